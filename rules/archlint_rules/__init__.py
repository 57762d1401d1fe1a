"""archlint's built-in rule pack: one module per rule.

It is registered through the ``archlint.rules`` entry point exactly like a third-party plugin
(see pyproject.toml), so the plugin API is exercised by our own rules every day.
Codes by concern: AL0xx model and loading, AL1xx shape conformability, AL2xx hidden and cell
sizes, AL3xx direction, layer and state layout, AL4xx parameters and budgets, AL5xx runtime,
AL6xx deployment targets (only with --target; profiles in archlint/targets/profiles).
Within AL1xx and AL2xx: AL101-AL107 conformability of X, W, R, B, sequence_lens, states and
outputs; AL201-AL204 hidden and cell size; AL210-AL217 the cell's attributes (direction value,
activations, clip, flags, attribute types), which define what the hidden state computes.
"""
