"""spiffe_helper/cryptonames.py hands out cryptography's public objects themselves, not look-alikes."""

from __future__ import annotations

import subprocess
import sys

from cryptography.hazmat.primitives import serialization

from spiffe_helper import cryptonames


def test_the_names_are_the_public_serialization_objects() -> None:
    assert cryptonames.load_der_private_key is serialization.load_der_private_key
    assert cryptonames.Encoding is serialization.Encoding
    assert cryptonames.PrivateFormat is serialization.PrivateFormat
    assert cryptonames.PublicFormat is serialization.PublicFormat
    assert cryptonames.NoEncryption is serialization.NoEncryption


def test_importing_them_leaves_the_serialization_package_unloaded() -> None:
    code = "import sys, spiffe_helper.cryptonames\nprint('cryptography.hazmat.primitives.serialization' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
