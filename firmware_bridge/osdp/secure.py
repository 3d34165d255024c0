"""OSDP Secure Channel, control-panel side: session keys, cryptograms, MAC chaining, data encryption.

The handshake (all AES-128; ``RND.A`` is the CP's random, ``RND.B`` the PD's)::

    CP -> PD  osdp_CHLNG   RND.A                        (SCS_11, key type: 1 = SCBK, 0 = SCBK-D)
    PD -> CP  osdp_CCRYPT  cUID, RND.B, client cryptogram (SCS_12)
    CP -> PD  osdp_SCRYPT  server cryptogram            (SCS_13)
    PD -> CP  osdp_RMAC_I  initial R-MAC                (SCS_14)

    S-ENC  = AES(SCBK, 01 82 RND.A[0:6] 00*8)       S-MAC1 = AES(SCBK, 01 01 ...)   S-MAC2 = AES(SCBK, 01 02 ...)
    client cryptogram = AES(S-ENC, RND.A || RND.B)   server cryptogram = AES(S-ENC, RND.B || RND.A)
    R-MAC-I = AES(S-MAC2, AES(S-MAC1, server cryptogram))

Afterwards each message carries a MAC: a CBC-MAC over SOM..data with S-MAC1 for every block but the
last and S-MAC2 for the last (``0x80 00..`` padding when the length is not a multiple of 16), chained:
a command's MAC starts from the last reply MAC, a reply's from the command's MAC. Data is encrypted
with AES-CBC under S-ENC, the IV being the complement of the chaining MAC, always padded ``0x80 00..``.
"""

from __future__ import annotations

import hmac
import os

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

SCBK_DEFAULT = bytes(range(0x30, 0x40))  # SCBK-D, the install-mode key the standard publishes
BLOCK = 16


class SecureChannelError(Exception):
    """A cryptogram, MAC or padding did not check out: the session cannot be trusted."""


def _ecb(key: bytes, block: bytes) -> bytes:
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # single blocks, as the standard says
    return enc.update(block) + enc.finalize()


def _pad(data: bytes) -> bytes:
    data += b"\x80"
    return data + bytes(-len(data) % BLOCK)


def _complement(block: bytes) -> bytes:
    return bytes(b ^ 0xFF for b in block)


def derive_session_keys(scbk: bytes, rnd_a: bytes) -> tuple[bytes, bytes, bytes]:
    """S-ENC, S-MAC1, S-MAC2 from the base key and the CP's random."""
    tail = rnd_a[:6] + bytes(8)
    return _ecb(scbk, b"\x01\x82" + tail), _ecb(scbk, b"\x01\x01" + tail), _ecb(scbk, b"\x01\x02" + tail)


def compute_mac(s_mac1: bytes, s_mac2: bytes, iv: bytes, message: bytes) -> bytes:
    """The full 16-byte MAC (the wire carries its first 4 bytes; the whole block chains on)."""
    blocks = message if message and len(message) % BLOCK == 0 else _pad(message)
    head, last = blocks[:-BLOCK], blocks[-BLOCK:]
    chain = iv
    if head:
        enc = Cipher(algorithms.AES(s_mac1), modes.CBC(iv)).encryptor()
        chain = (enc.update(head) + enc.finalize())[-BLOCK:]
    return _ecb(s_mac2, bytes(a ^ b for a, b in zip(last, chain, strict=True)))


class SecureSession:
    """One secure-channel session between this CP and one PD."""

    def __init__(self, scbk: bytes, *, install_mode: bool = False, rnd_a: bytes | None = None) -> None:
        if len(scbk) != BLOCK:
            raise ValueError("an SCBK is 16 bytes")
        self.install_mode = install_mode
        self._scbk = SCBK_DEFAULT if install_mode else scbk
        self.rnd_a = rnd_a if rnd_a is not None else os.urandom(8)
        self.active = False
        self._s_enc = self._s_mac1 = self._s_mac2 = b""
        self._server_cryptogram = b""
        self._r_mac = b""
        self._c_mac = b""

    @property
    def key_type(self) -> int:
        """The security block byte of CHLNG/SCRYPT: 0 asks the PD to use SCBK-D."""
        return 0 if self.install_mode else 1

    def challenge(self) -> bytes:
        return self.rnd_a

    def on_ccrypt(self, data: bytes) -> bytes:
        """Check the PD's cryptogram; return the server cryptogram for osdp_SCRYPT."""
        if len(data) != 32:
            raise SecureChannelError("osdp_CCRYPT is 32 bytes")
        rnd_b, client_cryptogram = data[8:16], data[16:32]
        self._s_enc, self._s_mac1, self._s_mac2 = derive_session_keys(self._scbk, self.rnd_a)
        if not hmac.compare_digest(_ecb(self._s_enc, self.rnd_a + rnd_b), client_cryptogram):
            raise SecureChannelError("client cryptogram mismatch (wrong SCBK?)")
        self._server_cryptogram = _ecb(self._s_enc, rnd_b + self.rnd_a)
        return self._server_cryptogram

    def on_rmac_i(self, data: bytes) -> None:
        expected = _ecb(self._s_mac2, _ecb(self._s_mac1, self._server_cryptogram))
        if len(data) != BLOCK or not hmac.compare_digest(expected, data):
            raise SecureChannelError("initial R-MAC mismatch")
        self._r_mac = expected
        self.active = True

    # ------------------------------------------------------------- established session

    def encrypt(self, data: bytes) -> bytes:
        """Encrypt a command's data (IV: the complement of the last reply MAC)."""
        enc = Cipher(algorithms.AES(self._s_enc), modes.CBC(_complement(self._r_mac))).encryptor()
        return enc.update(_pad(data)) + enc.finalize()

    def command_mac(self, body: bytes) -> bytes:
        """MAC a command (SOM..data); remembers the full MAC to check the reply with."""
        self._c_mac = compute_mac(self._s_mac1, self._s_mac2, self._r_mac, body)
        return self._c_mac[:4]

    def check_reply(self, mac_input: bytes, mac: bytes | None) -> None:
        """Verify a reply MAC; on success it becomes the chaining value of the next command."""
        full = compute_mac(self._s_mac1, self._s_mac2, self._c_mac, mac_input)
        if mac is None or not hmac.compare_digest(full[:4], mac):
            raise SecureChannelError("reply MAC mismatch")
        self._r_mac = full

    def decrypt_reply(self, data: bytes) -> bytes:
        """Decrypt a reply's data (IV: the complement of the command MAC) and strip the padding."""
        if not data or len(data) % BLOCK:
            raise SecureChannelError("encrypted data is not a whole number of blocks")
        dec = Cipher(algorithms.AES(self._s_enc), modes.CBC(_complement(self._c_mac))).decryptor()
        plain = (dec.update(data) + dec.finalize()).rstrip(b"\x00")
        if not plain.endswith(b"\x80"):
            raise SecureChannelError("bad padding in encrypted data")
        return plain[:-1]
