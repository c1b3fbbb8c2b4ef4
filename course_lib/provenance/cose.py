"""COSE_Sign1 (RFC 9052) as C2PA uses it: an ES256 (ECDSA P-256, SHA-256) signature over
the claim's CBOR bytes, with the signer's X.509 certificate chain in the header, and the
check that the chain ends in a trust anchor.
"""

from __future__ import annotations

from course_lib.provenance.cbor import CBORTag, cbor_dumps, cbor_loads

__all__ = ["SIGNATURE1_CONTEXT", "COSE_ALG", "COSE_X5CHAIN", "ES256", "sig_structure",
           "verify_cose_sign1", "chain_is_trusted"]

SIGNATURE1_CONTEXT = "Signature1"
COSE_ALG, COSE_X5CHAIN, ES256 = 1, 33, -7


def sig_structure(protected: bytes, payload: bytes, external_aad: bytes = b"") -> bytes:
    """COSE_Sign1 to-be-signed bytes: CBOR ["Signature1", protected, external_aad, payload]."""
    return cbor_dumps([SIGNATURE1_CONTEXT, protected, external_aad, payload])


def verify_cose_sign1(cose: CBORTag, payload: bytes):
    """Verify an ES256 COSE_Sign1 (tag 18) with a detached payload. Returns the leaf cert
    and the chain (list of x509.Certificate); raises InvalidSignature when it fails."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    if not isinstance(cose, CBORTag) or cose.tag != 18 or len(cose.value) != 4:
        raise ValueError("signature box must hold a COSE_Sign1: tag 18, array of 4")
    protected_bytes, unprotected, _, signature = cose.value
    protected = cbor_loads(protected_bytes) if protected_bytes else {}
    if protected.get(COSE_ALG) != ES256:
        raise ValueError(f"only ES256 (alg -7) is handled; got {protected.get(COSE_ALG)}")
    chain = protected.get(COSE_X5CHAIN, unprotected.get(COSE_X5CHAIN))
    chain = [chain] if isinstance(chain, bytes) else list(chain)
    certs = [x509.load_der_x509_certificate(der) for der in chain]
    # COSE carries r || s (32 bytes each); `cryptography` wants DER.
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    certs[0].public_key().verify(encode_dss_signature(r, s),
                                 sig_structure(protected_bytes, payload),
                                 ec.ECDSA(hashes.SHA256()))
    return certs


def chain_is_trusted(certs, trust_anchors_pem: str | None) -> bool:
    """Does each certificate issue the one before it, and the last come from an anchor?"""
    from cryptography import x509

    if not trust_anchors_pem:
        return False
    anchors = x509.load_pem_x509_certificates(trust_anchors_pem.encode())
    try:
        for child, parent in zip(certs, certs[1:]):
            child.verify_directly_issued_by(parent)
    except Exception:
        return False
    top = certs[-1]
    for anchor in anchors:
        if top == anchor:
            return True
        try:
            top.verify_directly_issued_by(anchor)
            return True
        except Exception:
            continue
    return False
