from archlint.cli import main

main()
