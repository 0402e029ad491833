// Peer authentication on the cluster port: a mutual challenge-response with HMAC-SHA256 over
// the shared `cluster-secret` (OpenSSL libcrypto), bound to the cluster name and both nonces,
// so neither side ever sends the secret and a recorded exchange cannot be replayed.
//
//   link   -> DYNIS.HELLO <cluster> <link-nonce>
//   server <- [<server-nonce>, Proof(secret, "server", cluster, link-nonce, server-nonce)]
//   link   -> DYNIS.AUTH Proof(secret, "link", cluster, server-nonce, link-nonce)
//   server <- +OK                      (any failure: an error, then the server closes)
#pragma once

#include <string>
#include <string_view>

namespace dynis::transport {

// 32 lowercase hex characters (128 bits) from the OS CSPRNG.
std::string RandomNonce();

// Lowercase hex HMAC-SHA256(secret, role "\n" cluster "\n" nonce_a "\n" nonce_b).
std::string PeerProof(std::string_view secret, std::string_view role, std::string_view cluster,
                      std::string_view nonce_a, std::string_view nonce_b);

// Lowercase hex HMAC-SHA256(key, msg): the primitive under PeerProof, exposed for its test
// vectors (RFC 4231).
std::string HmacSha256Hex(std::string_view key, std::string_view msg);

// Compares in time independent of where the inputs differ (lengths may leak).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace dynis::transport
