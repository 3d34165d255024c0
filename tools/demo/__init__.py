"""The demo's assets: a simulated world with the truth about each traveller, and what the real plugins need
to judge them (issuer keys and the trust list, signed passes and their QR frames, demo face models, galleries
and face frames), built deterministically from the profile's seed into ``var/demo/`` (``python -m tools.demo``).

It imports the plugins whose files it writes (gate_barcode, gate_face): tools are not plugins, and what it
writes reaches ``gate_sim`` as files only (``world.json`` and the frames it names).
"""
