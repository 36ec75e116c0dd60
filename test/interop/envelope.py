#!/usr/bin/env python3
"""SPEC section 5 envelopes with pyca/cryptography: an implementation independent of the server and the client.

A JSON array of requests gets an array of answers: one interpreter start for many envelopes.

  envelope.py decrypt   stdin {"private_key": PEM, "envelope": JSON text}  -> {"plaintext", "minute", "enc", "oaepHash"}
  envelope.py encrypt   stdin {"public_key": PEM, "plaintext", "minute", "enc", "oaepHash", "base64": "standard"|"urlsafe-unpadded"}
                        -> the envelope as a JSON object
"""
import base64
import json
import os
import sys

from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import padding as asym
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

HASHES = {"SHA-256": hashes.SHA256, "SHA-1": hashes.SHA1}


def oaep(name):
    return asym.OAEP(mgf=asym.MGF1(algorithm=HASHES[name]()), algorithm=HASHES[name](), label=None)


def canonical_minute(minute):
    # SPEC section 6: an integer in plain decimal, a string as it is.
    return str(minute) if isinstance(minute, int) else minute


def b64decode(text):
    text = text.replace("-", "+").replace("_", "/")
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def decrypt(request):
    key = serialization.load_pem_private_key(request["private_key"].encode(), password=None)
    env = json.loads(request["envelope"])
    enc = env.get("enc", "AES-CBC")
    oaep_hash = env.get("oaepHash", "SHA-256")
    aes_key = key.decrypt(b64decode(env["encryptedKey"]), oaep(oaep_hash))
    iv = b64decode(env["iv"])
    data = b64decode(env["ciphertext"])
    if enc == "AES-GCM":
        aad = canonical_minute(env["minute"]).encode("utf-8")
        plain = AESGCM(aes_key).decrypt(iv, data, aad)
    else:
        decryptor = Cipher(algorithms.AES(aes_key), modes.CBC(iv)).decryptor()
        padded = decryptor.update(data) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        plain = unpadder.update(padded) + unpadder.finalize()
    return {
        "plaintext": plain.decode("utf-8"),
        "minute": env["minute"],
        "enc": enc,
        "oaepHash": oaep_hash,
        "keyBytes": len(aes_key),
        "ivBytes": len(iv),
    }


def encrypt(request):
    key = serialization.load_pem_public_key(request["public_key"].encode())
    enc = request.get("enc", "AES-GCM")
    oaep_hash = request.get("oaepHash", "SHA-256")
    minute = request["minute"]
    plain = request["plaintext"].encode("utf-8")
    aes_key = os.urandom(request.get("keyBytes", 32))
    if enc == "AES-GCM":
        iv = os.urandom(12)
        data = AESGCM(aes_key).encrypt(iv, plain, canonical_minute(minute).encode("utf-8"))
    else:
        iv = os.urandom(16)
        padder = padding.PKCS7(128).padder()
        padded = padder.update(plain) + padder.finalize()
        encryptor = Cipher(algorithms.AES(aes_key), modes.CBC(iv)).encryptor()
        data = encryptor.update(padded) + encryptor.finalize()
    if request.get("base64") == "urlsafe-unpadded":
        b64 = lambda b: base64.urlsafe_b64encode(b).decode().rstrip("=")
    else:
        b64 = lambda b: base64.b64encode(b).decode()
    envelope = {
        "encryptedKey": b64(key.encrypt(aes_key, oaep(oaep_hash))),
        "iv": b64(iv),
        "ciphertext": b64(data),
        "minute": minute,
        "enc": enc,
        "oaepHash": oaep_hash,
    }
    return envelope


def main():
    request = json.load(sys.stdin)
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    handler = {"decrypt": decrypt, "encrypt": encrypt}.get(command)
    if handler is None:
        sys.exit("usage: envelope.py decrypt|encrypt < request.json")
    answer = [handler(r) for r in request] if isinstance(request, list) else handler(request)
    json.dump(answer, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
