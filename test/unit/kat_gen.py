#!/usr/bin/env python3
"""Second implementation behind the known-answer tests (test/unit/check_kat_*.c).

Computes, without any gikev2 code, the values the C tests compare against and prints them as
test/unit/kat_vectors.h:

    python3 test/unit/kat_gen.py > test/unit/kat_vectors.h

Only the AES block function, HMAC/SHA-2, AES-CMAC and the AEADs come from libraries (Python's
hmac/hashlib and the `cryptography` package); the constructions IKEv2 and G-IKEv2 build on them
(RFC 5649 key wrap, RFC 3686 counter blocks, RFC 4434/4615 PRF key rules, prf+, the RFC 7296 2.14
key schedule, the SK payload layout of RFC 7296 3.14 / RFC 5282 / RFC 7634, the RFC 7296 2.15
AUTH) are written here from the RFC text. Before printing anything each construction is
checked against the published vectors quoted below (assertions), so a vector printed here is
as good as the RFC text it was checked against.
"""
import hashlib
import hmac
import struct
import sys

import cryptography
from cryptography.hazmat.primitives import cmac, keywrap
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

H = bytes.fromhex


def aes_block(key, block):
    e = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return e.update(block) + e.finalize()


# ---- RFC 3394 2.2.1 (index form) and RFC 5649 4.1 ----
def kw_w(kek, a, p):
    r = [p[i:i + 8] for i in range(0, len(p), 8)]
    n = len(r)
    for j in range(6):
        for i in range(n):
            b = aes_block(kek, a + r[i])
            t = n * j + i + 1
            a = (int.from_bytes(b[:8], "big") ^ t).to_bytes(8, "big")
            r[i] = b[8:]
    return a + b"".join(r)


def kw_5649(kek, key):
    aiv = H("a65959a6") + struct.pack(">I", len(key))
    p = key + bytes(-len(key) % 8)
    if len(p) == 8:  # RFC 5649 4.1: one semiblock is one AES-ECB block operation
        return aes_block(kek, aiv + p)
    return kw_w(kek, aiv, p)


def check_kw():
    iv = H("a6a6a6a6a6a6a6a6")
    k16, k32 = H("000102030405060708090a0b0c0d0e0f"), bytes(range(32))
    key16 = H("00112233445566778899aabbccddeeff")
    # RFC 3394 4.1, 4.3, 4.6
    assert kw_w(k16, iv, key16) == H("1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5")
    assert kw_w(k32, iv, key16) == H("64e8c3f9ce0f5ba263e9777905818a2a93c8191e7d6e8ae7")
    assert kw_w(k32, iv, key16 + bytes(range(16))) == H(
        "28c9f404c4b810f4cbccb35cfb87f8263f5786e2d80ed326cbc7f0e71a99f43bfb988b9b7a02dd21")
    # RFC 5649 6, both vectors (192-bit KEK)
    kek = H("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8")
    assert kw_5649(kek, H("c37b7e6492584340bed12207808941155068f738")) == H(
        "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a")
    assert kw_5649(kek, H("466f7250617369")) == H("afbeb0f07dfbf5419200f2ccb50bb24f")


# ---- PRFs: HMAC (RFC 2104/4868), AES-XCBC-PRF-128 (RFC 3566/4434), AES-CMAC-PRF-128 (RFC 4615)
def xcbc_mac(k, m):
    k1, k2, k3 = (aes_block(k, bytes([c]) * 16) for c in (1, 2, 3))
    e = bytes(16)
    blocks = [m[i:i + 16] for i in range(0, len(m), 16)] or [b""]
    for b in blocks[:-1]:
        e = aes_block(k1, bytes(x ^ y for x, y in zip(b, e)))
    last = blocks[-1]
    if len(last) == 16:
        last = bytes(x ^ y for x, y in zip(last, k2))
    else:
        last = last + b"\x80" + bytes(15 - len(last))
        last = bytes(x ^ y for x, y in zip(last, k3))
    return aes_block(k1, bytes(x ^ y for x, y in zip(last, e)))


def cmac_mac(k, m):
    c = cmac.CMAC(algorithms.AES(k))
    c.update(m)
    return c.finalize()


def prf(name, key, data):
    if name in ("sha256", "sha384", "sha512"):
        return hmac.new(key, data, name).digest()
    mac = xcbc_mac if name == "xcbc" else cmac_mac
    if name == "xcbc" and len(key) < 16:  # RFC 4434 2: short keys are padded with zeros
        key = key + bytes(16 - len(key))
    elif len(key) != 16:  # RFC 4434 2 / RFC 4615 3: other lengths are first MACed with 0^128
        key = mac(bytes(16), key)
    return mac(key, data)


def check_prf():
    k = bytes(range(16))
    m20 = bytes(range(20))
    assert xcbc_mac(k, b"") == H("75f0251d528ac01c4573dfd584d79f29")        # RFC 3566 4 #1
    assert xcbc_mac(k, H("000102")) == H("5b376580ae2f19afe7219ceef172756f")  # RFC 3566 4 #2
    assert xcbc_mac(k, bytes(range(34))) == H("becbb3bccdb518a30677d5481fb6b4d8")  # #6
    assert prf("xcbc", bytes(range(10)), m20) == H("0fa087af7d866e7653434e602fdde835")  # 4434
    assert prf("xcbc", k + H("edcb"), m20) == H("8cd3c93ae598a9803006ffb67c40e9e4")     # 4434
    assert prf("cmac", k + H("edcb"), m20) == H("84a348a4a45d235babfffc0d2b4da09a")     # 4615
    assert prf("cmac", bytes(range(10)), m20) == H("290d9e112edb09ee141fcf64c0b72f3d")  # 4615
    # RFC 4231 4.2 test case 1
    assert prf("sha256", b"\x0b" * 20, b"Hi There") == H(
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")


PRF_OUT = {"sha256": 32, "sha384": 48, "sha512": 64, "xcbc": 16, "cmac": 16}
PRF_ID = {"sha256": "GK_PRF_HMAC_SHA2_256", "sha384": "GK_PRF_HMAC_SHA2_384",
          "sha512": "GK_PRF_HMAC_SHA2_512", "xcbc": "GK_PRF_AES128_XCBC",
          "cmac": "GK_PRF_AES128_CMAC"}


def prf_plus(name, key, seed, n):
    out, t, i = b"", b"", 1
    while len(out) < n:  # RFC 7296 2.13: T1 = prf(K, S | 0x01), Tn = prf(K, Tn-1 | S | n)
        t = prf(name, key, t + seed + bytes([i]))
        out += t
        i += 1
    return out[:n]


# ---- IKEv2 key schedule (RFC 7296 2.14) and GSK_w (RFC 9838 3.1.1) ----
def key_schedule(pname, ni, nr, gir, spi_i, spi_r, a_len, e_len, w_len):
    if pname in ("xcbc", "cmac"):  # 2.14: only the first 64 bits of each nonce key the AES PRFs
        seed_key = ni[:8] + nr[:8]
    else:
        seed_key = ni + nr
    skeyseed = prf(pname, seed_key, gir)
    d = p = PRF_OUT[pname]  # the PRF's preferred key length; its output length here
    lens = [("sk_d", d), ("sk_ai", a_len), ("sk_ar", a_len), ("sk_ei", e_len), ("sk_er", e_len),
            ("sk_pi", p), ("sk_pr", p)]
    stream = prf_plus(pname, skeyseed, ni + nr + spi_i + spi_r, sum(n for _, n in lens))
    keys, off = {"skeyseed": skeyseed}, 0
    for name, n in lens:
        keys[name] = stream[off:off + n]
        off += n
    keys["gsk_w"] = prf_plus(pname, keys["sk_d"], b"Key Wrap for G-IKEv2", w_len) if w_len else b""
    return keys


# ---- SK payload (RFC 7296 3.14; AES-CTR RFC 5930/3686; AES-GCM RFC 5282; ChaCha RFC 7634) ----
def ctr_keystream_xor(key, block0, data):
    out = b""
    ctr = int.from_bytes(block0, "big")
    for i in range(0, len(data), 16):
        ks = aes_block(key, ctr.to_bytes(16, "big"))
        out += bytes(x ^ y for x, y in zip(data[i:i + 16], ks))
        ctr += 1
    return out


def check_ctr():
    # RFC 3686 6, test vectors #1 (AES-128), #2 (AES-128, 32 octets), #4 (AES-192), #7 (AES-256)
    for key, nonce, iv, pt, ct in RFC3686:
        assert ctr_keystream_xor(key, nonce + iv + H("00000001"), pt) == ct


RFC3686 = [
    (H("ae6852f8121067cc4bf7a5765577f39e"), H("00000030"), H("0000000000000000"),
     b"Single block msg", H("e4095d4fb7a7b3792d6175a3261311b8")),
    (H("7e24067817fae0d743d6ce1f32539163"), H("006cb6db"), H("c0543b59da48d90b"),
     bytes(range(32)),
     H("5104a106168a72d9790d41ee8edad388eb2e1efc46da57c8fce630df9141be28")),
    (H("16af5b145fc9f579c175f93e3bfb0eed863d06ccfdb78515"), H("00000048"),
     H("36733c147d6d93cb"), b"Single block msg", H("4b55384fe259c9c84e7935a003cbe928")),
    (H("776beff2851db06f4c8a0542c8696f6c6a81af1eec96b4d37fc1d689e6c1c104"), H("00000060"),
     H("db5672c97aa8f0b2"), b"Single block msg", H("145ad01dbf824ec7560863dc71e3e0c0")),
]

ICV = {"GK_INTEG_HMAC_SHA2_256_128": ("sha256", 16), "GK_INTEG_HMAC_SHA2_512_256": ("sha512", 32),
       "GK_INTEG_HMAC_SHA2_384_192": ("sha384", 24)}


def sk_seal(encr, key, salt, integ, integ_key, iv, hdr, sk_hdr, inner, icv_len=16):
    """hdr: the 28-octet IKE header, sk_hdr the 4-octet SK header, both with their length
    fields still to fill; returns the whole message."""
    block = 16 if encr == "cbc" else 1
    pad = (block - (len(inner) + 1) % block) % block
    pt = inner + bytes(pad) + bytes([pad])  # this implementation pads with zero octets
    body_len = len(iv) + len(pt) + (icv_len if integ is None else ICV[integ][1])
    total = 28 + 4 + body_len
    hdr = hdr[:24] + struct.pack(">I", total)
    sk_hdr = sk_hdr[:2] + struct.pack(">H", 4 + body_len)
    if encr == "cbc":
        e = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
        ct = e.update(pt) + e.finalize()
    elif encr == "ctr":  # RFC 3686 4: nonce (the salt) | IV | counter starting at 1
        ct = ctr_keystream_xor(key, salt + iv + H("00000001"), pt)
    if integ is not None:
        m = hdr + sk_hdr + iv + ct
        return m + prf(ICV[integ][0], integ_key, m)[:ICV[integ][1]]
    aad = hdr + sk_hdr  # RFC 5282 5.1 / RFC 7634 4: IKE header through the SK header
    nonce = salt + iv
    aead = AESGCM(key) if encr == "gcm" else ChaCha20Poly1305(key)
    out = aead.encrypt(nonce, pt, aad)
    ct, tag = out[:-16], out[-16:]
    return aad + iv + ct + tag[:icv_len]  # GCM ICVs of 8/12 octets: the tag truncated


# ---- output helpers ----
def hx(b):
    s = b.hex()
    if len(s) <= 64:
        return '"%s"' % s
    return "\n\t  ".join('"%s"' % s[i:i + 64] for i in range(0, len(s), 64))


def emit_kw(out):
    out.append("/* RFC 5649 wrapping under every KEK size. The 192-bit ones are RFC 5649 section 6;")
    out.append(" * the 128- and 256-bit ones come from kw_5649() above, checked against RFC 3394 4.1,")
    out.append(" * 4.3 and 4.6 and RFC 5649 6, and equal to cryptography's aes_key_wrap_with_padding. */")
    out.append("static const struct kat_kw kat_kw[] = {")
    cases = [
        ("RFC 5649 6, 20-octet key", "GK_KWA_KW_5649_192", H("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8"),
         H("c37b7e6492584340bed12207808941155068f738")),
        ("RFC 5649 6, 7-octet key", "GK_KWA_KW_5649_192", H("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8"),
         H("466f7250617369")),
        ("kat_gen.py, RFC 3394 4.1 KEK and key", "GK_KWA_KW_5649_128", bytes(range(16)),
         H("00112233445566778899aabbccddeeff")),
        ("kat_gen.py, 7-octet key (single AES block)", "GK_KWA_KW_5649_128", bytes(range(16)),
         H("466f7250617369")),
        ("kat_gen.py, 36-octet AES-256-GCM key+salt", "GK_KWA_KW_5649_128", bytes(range(16)),
         bytes(range(0x40, 0x64))),
        ("kat_gen.py, RFC 3394 4.6 KEK and key", "GK_KWA_KW_5649_256", bytes(range(32)),
         H("00112233445566778899aabbccddeeff000102030405060708090a0b0c0d0e0f")),
        ("kat_gen.py, RFC 3394 4.3 KEK and key", "GK_KWA_KW_5649_256", bytes(range(32)),
         H("00112233445566778899aabbccddeeff")),
        ("kat_gen.py, 7-octet key (single AES block)", "GK_KWA_KW_5649_256", bytes(range(32)),
         H("466f7250617369")),
        ("kat_gen.py, RFC 3394 4.2 KEK", "GK_KWA_KW_5649_192", bytes(range(24)),
         H("00112233445566778899aabbccddeeff")),
    ]
    for src, kwa, kek, key in cases:
        w = kw_5649(kek, key)
        assert w == keywrap.aes_key_wrap_with_padding(kek, key)
        out.append("\t{ \"%s\", %s,\n\t  %s,\n\t  %s,\n\t  %s },"
                   % (src, kwa, hx(kek), hx(key), hx(w)))
    out.append("};\n")


SPI_I, SPI_R = H("0123456789abcdef"), H("fedcba9876543210")
NI = bytes(range(0x10, 0x30))        # 32 octets
NR = bytes(range(0xa0, 0xc0))        # 32 octets
GIR = hashlib.sha256(b"g^ir of the kat_gen.py key schedule").digest()


def emit_keys(out):
    out.append("/* RFC 7296 2.14 key schedule and RFC 9838 3.1.1 GSK_w from key_schedule() above, for")
    out.append(" * Ni = 10 11 .. 2f, Nr = a0 a1 .. bf (32 octets each), g^ir = SHA-256(\"g^ir of the")
    out.append(" * kat_gen.py key schedule\"), SPIi = 0123456789abcdef, SPIr = fedcba9876543210. */")
    out.append("#define KAT_NI %s" % hx(NI).replace("\n\t  ", " \\\n\t"))
    out.append("#define KAT_NR %s" % hx(NR).replace("\n\t  ", " \\\n\t"))
    out.append("#define KAT_GIR %s" % hx(GIR))
    out.append("#define KAT_SPI_I UINT64_C(0x0123456789abcdef)")
    out.append("#define KAT_SPI_R UINT64_C(0xfedcba9876543210)")
    out.append("static const struct kat_keys kat_keys[] = {")
    suites = [
        ("sha256", "GK_ENCR_AES_GCM_16", 256, "GK_INTEG_NONE", 0, 36, "GK_KWA_KW_5649_256", 32),
        ("sha512", "GK_ENCR_AES_CBC", 256, "GK_INTEG_HMAC_SHA2_512_256", 64, 32, "GK_KWA_KW_5649_128", 16),
        ("sha384", "GK_ENCR_AES_CBC", 192, "GK_INTEG_HMAC_SHA2_384_192", 48, 24, "GK_KWA_KW_5649_192", 24),
        ("cmac", "GK_ENCR_AES_CBC", 128, "GK_INTEG_AES_CMAC_96", 16, 16, "GK_KWA_KW_5649_256", 32),
        ("xcbc", "GK_ENCR_CHACHA20_POLY1305", 0, "GK_INTEG_NONE", 0, 36, "0", 0),
    ]
    done = []
    for pname, encr, bits, integ, a_len, e_len, kwa, w_len in suites:
        k = key_schedule(pname, NI, NR, GIR, SPI_I, SPI_R, a_len, e_len, w_len)
        done.append((pname, k, w_len))
        out.append("\t/* %s: SKEYSEED = %s */" % (PRF_ID[pname], k["skeyseed"].hex()))
        out.append("\t{ %s, %s, %d, %s, %s," % (PRF_ID[pname], encr, bits, integ, kwa))
        for f in ("sk_d", "sk_ai", "sk_ar", "sk_ei", "sk_er", "sk_pi", "sk_pr", "gsk_w"):
            out.append("\t  %s," % hx(k[f]))
        out[-1] = out[-1].rstrip(",") + " },"
    out.append("};\n")
    emit_ppk(out, done)
    emit_addke(out, done, suites)
    return key_schedule("sha256", NI, NR, GIR, SPI_I, SPI_R, 0, 36, 32)


def emit_psk(out, k):
    init_req = SPI_I + bytes(8) + H("21202208") + bytes(4) + struct.pack(">I", 28 + 36) + bytes(range(36))
    init_resp = SPI_I + SPI_R + H("21202220") + bytes(4) + struct.pack(">I", 28 + 40) + bytes(range(100, 140))
    id_i = H("02000000") + b"member.example"
    id_r = H("02000000") + b"gcks.example"
    psk = b"a pre-shared key of the kat test"
    pad = prf("sha256", psk, b"Key Pad for IKEv2")
    # RFC 7296 2.15: InitiatorSignedOctets = RealMessage1 | NonceRData | prf(SK_pi, IDi body)
    oct_i = init_req + NR + prf("sha256", k["sk_pi"], id_i)
    oct_r = init_resp + NI + prf("sha256", k["sk_pr"], id_r)
    out.append("/* RFC 7296 2.15 PSK AUTH, both directions, under the HMAC-SHA2-256 key schedule above")
    out.append(" * (kat_keys[0]): AUTH = prf(prf(PSK, \"Key Pad for IKEv2\"), <SignedOctets>) with")
    out.append(" * InitiatorSignedOctets = IKE_SA_INIT request | Nr | prf(SK_pi, IDi body) and")
    out.append(" * ResponderSignedOctets = IKE_SA_INIT response | Ni | prf(SK_pr, IDr body). */")
    out.append("#define KAT_PSK \"%s\"" % psk.decode())
    out.append("#define KAT_INIT_REQ %s" % hx(init_req).replace("\n\t  ", " \\\n\t"))
    out.append("#define KAT_INIT_RESP %s" % hx(init_resp).replace("\n\t  ", " \\\n\t"))
    out.append("#define KAT_IDI_BODY %s /* ID_FQDN member.example */" % hx(id_i))
    out.append("#define KAT_IDR_BODY %s /* ID_FQDN gcks.example */" % hx(id_r))
    out.append("#define KAT_AUTH_I %s" % hx(prf("sha256", pad, oct_i)))
    out.append("#define KAT_AUTH_R %s\n" % hx(prf("sha256", pad, oct_r)))


# ---- RFC 8784 3: the IKE SA key update with a PPK ----
PPK = b"a post-quantum preshared key, 44 octets long"


def ppk_update(pname, keys, w_len):
    n = {f: prf_plus(pname, PPK, keys[f], len(keys[f])) for f in ("sk_d", "sk_pi", "sk_pr")}
    n["gsk_w"] = prf_plus(pname, n["sk_d"], b"Key Wrap for G-IKEv2", w_len) if w_len else b""
    return n


def emit_ppk(out, suites):
    out.append("/* RFC 8784 3 key update of each kat_keys[] entry (same order) with PPK = KAT_PPK:")
    out.append(" * SK_d' = prf+(PPK, SK_d), SK_pi' = prf+(PPK, SK_pi), SK_pr' = prf+(PPK, SK_pr), and GSK_w")
    out.append(" * derived again from SK_d' (RFC 9838 3.1.1, 6.2). */")
    out.append("#define KAT_PPK \"%s\"" % PPK.decode())
    out.append("static const struct kat_ppk kat_ppk[] = {")
    for pname, keys, w_len in suites:
        n = ppk_update(pname, keys, w_len)
        out.append("\t/* %s */" % PRF_ID[pname])
        out.append("\t{ %s,\n\t  %s,\n\t  %s,\n\t  %s }," % tuple(hx(n[f]) for f in ("sk_d", "sk_pi", "sk_pr", "gsk_w")))
    out.append("};\n")


# ---- RFC 9370 2.2.2: the key update after each additional key exchange ----
SK1 = hashlib.sha256(b"SK(1) of the kat_gen.py additional key exchange").digest()          # 32
SK2 = hashlib.sha384(b"SK(2) of the kat_gen.py additional key exchange").digest()          # 48


def addke_update(pname, prev, skn, a_len, e_len, w_len):
    # SKEYSEED(n) = prf(SK_d(n-1), SK(n) | Ni | Nr); no nonce truncation (that is IKE_SA_INIT's)
    skeyseed = prf(pname, prev["sk_d"], skn + NI + NR)
    d = p = PRF_OUT[pname]
    lens = [("sk_d", d), ("sk_ai", a_len), ("sk_ar", a_len), ("sk_ei", e_len), ("sk_er", e_len),
            ("sk_pi", p), ("sk_pr", p)]
    stream = prf_plus(pname, skeyseed, NI + NR + SPI_I + SPI_R, sum(n for _, n in lens))
    keys, off = {}, 0
    for name, n in lens:
        keys[name] = stream[off:off + n]
        off += n
    keys["gsk_w"] = prf_plus(pname, keys["sk_d"], b"Key Wrap for G-IKEv2", w_len) if w_len else b""
    return keys


KEYS8 = ("sk_d", "sk_ai", "sk_ar", "sk_ei", "sk_er", "sk_pi", "sk_pr", "gsk_w")


def intauth_data(spi_i, spi_r, flags, msg_id, plain, first):
    # RFC 9242 3.3.2: IntAuth_*A (IKE header, Encrypted payload header, lengths as if the inner
    # payloads were in the clear) | IntAuth_*P (the inner payloads)
    hdr = spi_i + spi_r + bytes([46, 0x20, 43, flags]) + struct.pack(">II", msg_id, 28 + 4 + len(plain))
    return hdr + bytes([first, 0]) + struct.pack(">H", 4 + len(plain)) + plain


def ke_payload(group, value):
    return struct.pack(">BBHHH", 0, 0, 8 + len(value), group, 0) + value


def emit_addke(out, done, suites):
    out.append("/* RFC 9370 2.2.2 key updates of each kat_keys[] entry (same order), two in a row:")
    out.append(" * SKEYSEED(n) = prf(SK_d(n-1), SK(n) | Ni | Nr), {SK_d(n) | .. | SK_pr(n)} =")
    out.append(" * prf+(SKEYSEED(n), Ni | Nr | SPIi | SPIr), GSK_w from SK_d(n); SK(1) = SHA-256(\"SK(1) of")
    out.append(" * the kat_gen.py additional key exchange\"), SK(2) = SHA-384(\"SK(2) ...\"). */")
    out.append("#define KAT_SK1 %s" % hx(SK1))
    out.append("#define KAT_SK2 %s" % hx(SK2).replace("\n\t  ", " \\\n\t"))
    out.append("static const struct kat_addke kat_addke[][2] = {")
    chains = []
    for (pname, k0, w_len), suite in zip(done, suites):
        a_len, e_len = suite[4], suite[5]
        k1 = addke_update(pname, k0, SK1, a_len, e_len, w_len)
        k2 = addke_update(pname, k1, SK2, a_len, e_len, w_len)
        chains.append((pname, k0, k1, k2))
        out.append("\t/* %s */" % PRF_ID[pname])
        for n, k in ((1, k1), (2, k2)):
            out.append("\t%s { %s }%s" % ("{" if n == 1 else " ", ",\n\t    ".join(hx(k[f]) for f in KEYS8),
                                         "," if n == 1 else " },"))
    out.append("};\n")
    # RFC 9242 3.3.2 IntAuth over two IKE_INTERMEDIATE exchanges of the HMAC-SHA2-256 schedule
    pname, k0, k1, _ = chains[0]
    p_i1 = ke_payload(20, bytes(range(96)))
    p_r1 = ke_payload(20, bytes(range(100, 196)))
    p_i2 = ke_payload(21, bytes(range(132)))
    p_r2 = ke_payload(21, bytes(range(50, 182)))
    ia_i1 = prf(pname, k0["sk_pi"], intauth_data(SPI_I, SPI_R, 0x08, 1, p_i1, 34))
    ia_r1 = prf(pname, k0["sk_pr"], intauth_data(SPI_I, SPI_R, 0x20, 1, p_r1, 34))
    ia_i2 = prf(pname, k1["sk_pi"], ia_i1 + intauth_data(SPI_I, SPI_R, 0x08, 2, p_i2, 34))
    ia_r2 = prf(pname, k1["sk_pr"], ia_r1 + intauth_data(SPI_I, SPI_R, 0x20, 2, p_r2, 34))
    out.append("/* RFC 9242 3.3.2 IntAuth under kat_keys[0] (the first exchange) and kat_addke[0][0] (the")
    out.append(" * second): IKE_INTERMEDIATE Message IDs 1 and 2 between KAT_SPI_I and KAT_SPI_R, each message")
    out.append(" * one KE payload (ECP-384 values 00 01 .. 5f, then 64 65 .. c3; ECP-521 values 00 .. 83, then")
    out.append(" * 32 .. b5); IntAuth_x1 = prf(SK_px, A | P), IntAuth_x2 = prf(SK_px(1), IntAuth_x1 | A | P), and")
    out.append(" * the octets the AUTH payloads gain: IntAuth_i | IntAuth_r | IKE_AUTH_MID (3). */")
    out.append("#define KAT_INTAUTH_I1 %s" % hx(ia_i1))
    out.append("#define KAT_INTAUTH_R1 %s" % hx(ia_r1))
    out.append("#define KAT_INTAUTH_OCTETS %s" % hx(ia_i2 + ia_r2 + struct.pack(">I", 3)).replace("\n\t  ", " \\\n\t"))


def emit_sk(out):
    hdr = SPI_I + SPI_R + H("2e202508") + H("00000001") + bytes(4)  # SK, v2.0, INFORMATIONAL, I
    sk_hdr = H("29000000")                                           # next: Notify
    notify = H("0000000800004000")  # Notify, no SPI, INITIAL_CONTACT
    out.append("/* SK payloads (RFC 7296 3.14) sealed by sk_seal() above with a fixed IV. The header")
    out.append(" * is SPIi | SPIr | SK | 2.0 | INFORMATIONAL | I | Message ID 1 | length, the SK header")
    out.append(" * names a Notify; inner is what the SK payload carries. Padding octets are zero. */")
    out.append("#define KAT_SK_HDR %s" % hx(hdr + sk_hdr).replace("\n\t  ", " \\\n\t"))
    out.append("static const struct kat_sk kat_sk[] = {")
    cases = []
    ik256, ik512 = bytes(range(0x80, 0xa0)), bytes(range(0x80, 0xc0))
    # AES-CTR with the key, nonce (our salt) and IV of RFC 3686 6 vectors #1, #2, #4, #7
    for n, (key, nonce, iv, pt, ct) in zip((1, 2, 4, 7), RFC3686):
        integ, ik = ("GK_INTEG_HMAC_SHA2_256_128", ik256) if n < 7 else ("GK_INTEG_HMAC_SHA2_512_256", ik512)
        cases.append(("RFC 3686 6 #%d key, nonce, IV and plaintext; ICV by kat_gen.py" % n,
                      "GK_ENCR_AES_CTR", len(key) * 8, integ, "ctr", key, nonce, ik, iv, pt, ct))
    cases.append(("kat_gen.py, AES-CBC-128", "GK_ENCR_AES_CBC", 128, "GK_INTEG_HMAC_SHA2_256_128", "cbc",
                  bytes(range(0x20, 0x30)), b"", ik256, bytes(range(0x50, 0x60)), notify, None))
    cases.append(("kat_gen.py, AES-CBC-256", "GK_ENCR_AES_CBC", 256, "GK_INTEG_HMAC_SHA2_512_256", "cbc",
                  bytes(range(0x20, 0x40)), b"", ik512, bytes(range(0x50, 0x60)), notify + b"\x01" * 20, None))
    for bits in (128, 256):
        for icv, encr in ((16, "GK_ENCR_AES_GCM_16"), (12, "GK_ENCR_AES_GCM_12"), (8, "GK_ENCR_AES_GCM_8")):
            if bits == 128 and icv != 16:
                continue
            cases.append(("kat_gen.py, AES-GCM-%d %d-bit, RFC 5282 salt | IV" % (icv * 8, bits), encr, bits,
                          "GK_INTEG_NONE", ("gcm", icv), bytes(range(0x30, 0x30 + bits // 8)), H("cafebabe"),
                          b"", H("facedbaddecaf888"), notify, None))
    cases.append(("kat_gen.py, ChaCha20-Poly1305, RFC 7634 salt | IV (RFC 8439 2.8.2 key, salt, IV)",
                  "GK_ENCR_CHACHA20_POLY1305", 0, "GK_INTEG_NONE", ("chacha", 16),
                  bytes(range(0x80, 0xa0)), H("07000000"), b"", H("4041424344454647"), notify, None))
    for src, encr, bits, integ, mode, key, salt, ik, iv, inner, rfc_ct in cases:
        if isinstance(mode, tuple):
            sealed = sk_seal(mode[0], key, salt, None, None, iv, hdr, sk_hdr, inner, mode[1])
        else:
            sealed = sk_seal(mode, key, salt, integ, ik, iv, hdr, sk_hdr, inner)
        if rfc_ct is not None:  # the RFC 3686 ciphertext is the start of the SK body
            assert sealed[32 + 8:32 + 8 + len(rfc_ct)] == rfc_ct
        out.append("\t/* %s */" % src)
        out.append("\t{ %s, %d, %s,\n\t  %s,\n\t  %s,\n\t  %s,\n\t  %s,\n\t  %s,\n\t  %s }," % (
            encr, bits, integ, hx(key + salt), hx(ik), hx(iv), hx(inner),
            hx(rfc_ct) if rfc_ct else "NULL", hx(sealed)))
    out.append("};\n")


def main():
    check_kw()
    check_prf()
    check_ctr()
    out = ["/* Known answers for test/unit/check_kat_*.c, generated by test/unit/kat_gen.py with",
           " * Python %d.%d and cryptography %s; regenerate with" % (sys.version_info[0], sys.version_info[1],
                                                                    cryptography.__version__),
           " * `python3 test/unit/kat_gen.py > test/unit/kat_vectors.h`. Do not edit by hand. */",
           "#ifndef GK_KAT_VECTORS_H", "#define GK_KAT_VECTORS_H", "",
           "#include <stdint.h>", "#include \"iana.h\"", "",
           "struct kat_kw { const char *src; uint16_t kwa; const char *kek, *key, *wrapped; };",
           "struct kat_keys { uint16_t prf, encr, key_bits, integ, kwa;",
           "\tconst char *sk_d, *sk_ai, *sk_ar, *sk_ei, *sk_er, *sk_pi, *sk_pr, *gsk_w; };",
           "struct kat_ppk { const char *sk_d, *sk_pi, *sk_pr, *gsk_w; };",
           "struct kat_addke { const char *sk_d, *sk_ai, *sk_ar, *sk_ei, *sk_er, *sk_pi, *sk_pr, *gsk_w; };",
           "struct kat_sk { uint16_t encr, key_bits, integ;",
           "\tconst char *enc, *integ_key, *iv, *inner, *rfc_ct, *sealed; };", ""]
    emit_kw(out)
    k = emit_keys(out)
    emit_psk(out, k)
    emit_sk(out)
    out.append("#endif")
    print("\n".join(out))


if __name__ == "__main__":
    main()
