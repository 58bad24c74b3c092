"""Makes the collection importable as ansible_collections.twzrd.ops for every test.

The repo root is the collection root; .build/collections/ansible_collections/
twzrd/ops is a symlink to it (the Makefile's `collection` target makes the same).
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, '.build', 'collections')
_LINK = os.path.join(COLLECTIONS, 'ansible_collections', 'twzrd', 'ops')

if not os.path.islink(_LINK):
    os.makedirs(os.path.dirname(_LINK), exist_ok=True)
    os.symlink(ROOT, _LINK)
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)
