# Builds a SPEC §5 envelope (AES-256-GCM, RSA-OAEP-256) with pyca/cryptography.
# Usage: python3 examples/encrypt_envelope.py session.pem "payload text"
import base64, json, os, sys, time
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

public_key = serialization.load_pem_public_key(open(sys.argv[1], "rb").read())
minute = int(time.time() // 60)
aes_key, iv = AESGCM.generate_key(bit_length=256), os.urandom(12)
ciphertext = AESGCM(aes_key).encrypt(iv, sys.argv[2].encode(), str(minute).encode())
wrapped = public_key.encrypt(aes_key, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None))
b64 = lambda b: base64.b64encode(b).decode()
print(json.dumps({"encryptedKey": b64(wrapped), "iv": b64(iv), "ciphertext": b64(ciphertext), "minute": minute, "enc": "AES-GCM"}))
