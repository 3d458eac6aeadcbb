"""The virtual board: the armlock firmware behind a pty, like an ESP32 on USB.

launcher.py starts a board and pumps its pty; board.mjs is the MicroPython (WASM, Node)
board; twin.py is its CPython twin.
"""
