"""A test certificate authority for WhatsApp's Noise certificate chain, signed with the `xeddsa`
package (libxeddsa), not with Wharf's code: root -> intermediate -> leaf (the server static key)."""
import os

import xeddsa

import protowire


def keypair():
    private = os.urandom(32)
    return private, bytes(xeddsa.priv_to_curve25519_pub(private))


def sign(private, message):
    """XEdDSA: sign with the private key forced to the Edwards key whose sign bit is 0."""
    return bytes(xeddsa.ed25519_priv_sign(xeddsa.priv_force_sign(private, False), message, os.urandom(64)))


def verify(public, message, signature):
    edwards = xeddsa.curve25519_pub_to_ed25519_pub(public, bool(signature[63] & 0x80))
    cleared = bytes(signature[:63]) + bytes([signature[63] & 0x7F])
    return xeddsa.ed25519_verify(cleared, edwards, message)


def certificate(signer_private, serial, issuer_serial, key, not_before, not_after):
    details = protowire.message((1, serial), (2, issuer_serial), (3, key), (4, not_before), (5, not_after))
    return protowire.message((1, details), (2, sign(signer_private, details)))


def chain(root_private, intermediate_private, leaf_key, now, lifetime=86400):
    """Serialized CertChain{leaf=1, intermediate=2}."""
    intermediate_public = bytes(xeddsa.priv_to_curve25519_pub(intermediate_private))
    intermediate = certificate(root_private, 7, 0, intermediate_public, now - lifetime, now + lifetime)
    leaf = certificate(intermediate_private, 9001, 7, leaf_key, now - lifetime, now + lifetime)
    return protowire.message((1, leaf), (2, intermediate))
