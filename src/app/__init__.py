"""What the three commands share at the edge: where the config lives and its schemas (``paths``, ``schema``),
the check of a composed config (``checks``, ``preflight``), and turning errors into exit codes (``exits``,
``command``). Only the commands' ``__main__`` modules import this room; the logic below takes plain values.
"""
