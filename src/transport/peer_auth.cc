// Peer challenge-response primitives on OpenSSL libcrypto; see peer_auth.h for the exchange.
#include "transport/peer_auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cstdio>
#include <cstdlib>

namespace dynis::transport {
namespace {

std::string Hex(const unsigned char* p, size_t n) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out(n * 2, '\0');
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = kDigits[p[i] >> 4];
    out[2 * i + 1] = kDigits[p[i] & 0xf];
  }
  return out;
}

// Nothing sensible can continue without working crypto: a predictable nonce or an empty proof
// would silently weaken authentication, so these failures stop the process.
[[noreturn]] void CryptoFailure(const char* what) {
  std::fprintf(stderr, "dynis: OpenSSL %s failed\n", what);
  std::abort();
}

}  // namespace

std::string RandomNonce() {
  unsigned char buf[16];
  if (RAND_bytes(buf, sizeof(buf)) != 1) CryptoFailure("RAND_bytes");
  return Hex(buf, sizeof(buf));
}

std::string HmacSha256Hex(std::string_view key, std::string_view msg) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  // HMAC() wants a non-null key pointer even for an empty key.
  static const unsigned char kEmpty = 0;
  const void* k = key.empty() ? &kEmpty : static_cast<const void*>(key.data());
  const auto* m = reinterpret_cast<const unsigned char*>(msg.data());
  if (HMAC(EVP_sha256(), k, static_cast<int>(key.size()), m, msg.size(), md, &md_len) == nullptr) {
    CryptoFailure("HMAC");
  }
  return Hex(md, md_len);
}

std::string PeerProof(std::string_view secret, std::string_view role, std::string_view cluster,
                      std::string_view nonce_a, std::string_view nonce_b) {
  std::string msg;
  msg.reserve(role.size() + cluster.size() + nonce_a.size() + nonce_b.size() + 3);
  msg.append(role).append("\n").append(cluster).append("\n");
  msg.append(nonce_a).append("\n").append(nonce_b);
  return HmacSha256Hex(secret, msg);
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace dynis::transport
