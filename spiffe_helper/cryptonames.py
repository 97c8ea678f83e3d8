"""cryptography's key loader and encoding enums, reached without its ``serialization`` package.

``cryptography.hazmat.primitives.serialization`` is a package whose ``__init__`` also imports the SSH and
PKCS#12 key code: ~10 ms of a cold one-shot run (5 % of the floor the start-up is measured against), none
of which the helper uses. The names we need live elsewhere and are already loaded by ``cryptography.x509``:
the enums in ``primitives._serialization`` and the DER key loader in the Rust bindings, which the public
package re-exports as is (the same objects in cryptography 42 to 50; ``tests/unit/test_cryptonames.py``
checks the identity). Should a release move them, the public names are used instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["Encoding", "NoEncryption", "PrivateFormat", "PublicFormat", "load_der_private_key"]

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
        PublicFormat,
        load_der_private_key,
    )
else:
    try:
        from cryptography.hazmat.bindings._rust import openssl as _rust_openssl
        from cryptography.hazmat.primitives._serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

        load_der_private_key = _rust_openssl.keys.load_der_private_key
    except (ImportError, AttributeError):  # a cryptography release that moved them: the public names
        from cryptography.hazmat.primitives.serialization import (
            Encoding,
            NoEncryption,
            PrivateFormat,
            PublicFormat,
            load_der_private_key,
        )
