// Peer authentication primitives: HMAC-SHA256 against RFC 4231, the proof's binding to every
// input, nonces, constant-time comparison.
#include "transport/peer_auth.h"

#include <catch2/catch.hpp>
#include <set>
#include <string>

using dynis::transport::ConstantTimeEquals;
using dynis::transport::HmacSha256Hex;
using dynis::transport::PeerProof;
using dynis::transport::RandomNonce;

namespace {

bool IsLowerHex(const std::string& s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("HMAC-SHA256 matches RFC 4231", "[peer_auth]") {
  // Test case 1.
  CHECK(HmacSha256Hex(std::string(20, '\x0b'), "Hi There") ==
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  // Test case 2: a key shorter than the output.
  CHECK(HmacSha256Hex("Jefe", "what do ya want for nothing?") ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // Test case 3: combined length of key and data larger than 64 bytes.
  CHECK(HmacSha256Hex(std::string(20, '\xaa'), std::string(50, '\xdd')) ==
        "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
  // Test case 6: a key larger than the block size is hashed first.
  CHECK(HmacSha256Hex(std::string(131, '\xaa'),
                      "Test Using Larger Than Block-Size Key - Hash Key First") ==
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  // Test case 7: large key and large data.
  CHECK(HmacSha256Hex(std::string(131, '\xaa'),
                      "This is a test using a larger than block-size key and a larger than "
                      "block-size data. The key needs to be hashed before being used by the "
                      "HMAC algorithm.") ==
        "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
  // An empty key and message still work (an unset secret must not crash).
  CHECK(HmacSha256Hex("", "") ==
        "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST_CASE("PeerProof is HMAC over role, cluster and both nonces", "[peer_auth]") {
  const std::string proof = PeerProof("secret", "server", "prod", "aaaa", "bbbb");
  CHECK(proof == HmacSha256Hex("secret", "server\nprod\naaaa\nbbbb"));
  CHECK(proof.size() == 64);
  CHECK(IsLowerHex(proof));
  CHECK(proof == PeerProof("secret", "server", "prod", "aaaa", "bbbb"));  // deterministic

  std::set<std::string> variants = {
      proof,
      PeerProof("secret", "link", "prod", "aaaa", "bbbb"),     // role
      PeerProof("secret", "server", "prod2", "aaaa", "bbbb"),  // cluster
      PeerProof("secret", "server", "prod", "bbbb", "aaaa"),   // nonce order
      PeerProof("secret", "server", "prod", "aaab", "bbbb"),   // nonce
      PeerProof("secret2", "server", "prod", "aaaa", "bbbb"),  // secret
      PeerProof("", "server", "prod", "aaaa", "bbbb"),         // no secret
  };
  CHECK(variants.size() == 7);
  // The separators keep field boundaries: moving a character between fields changes the proof.
  CHECK(PeerProof("s", "server", "prodx", "aaaa", "bbbb") !=
        PeerProof("s", "server", "prod", "xaaaa", "bbbb"));
}

TEST_CASE("RandomNonce is 32 lowercase hex characters, fresh each call", "[peer_auth]") {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; i++) {
    const std::string n = RandomNonce();
    REQUIRE(n.size() == 32);
    REQUIRE(IsLowerHex(n));
    seen.insert(n);
  }
  CHECK(seen.size() == 1000);
}

TEST_CASE("ConstantTimeEquals", "[peer_auth]") {
  CHECK(ConstantTimeEquals("", ""));
  CHECK(ConstantTimeEquals("abc", "abc"));
  CHECK_FALSE(ConstantTimeEquals("abc", "abd"));  // last byte
  CHECK_FALSE(ConstantTimeEquals("xbc", "abc"));  // first byte
  CHECK_FALSE(ConstantTimeEquals("abc", "ab"));   // length
  CHECK_FALSE(ConstantTimeEquals("", "a"));
  const std::string p = PeerProof("k", "link", "c", "1", "2");
  std::string q = p;
  q[40] ^= 1;
  CHECK(ConstantTimeEquals(p, PeerProof("k", "link", "c", "1", "2")));
  CHECK_FALSE(ConstantTimeEquals(p, q));
  CHECK(ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0b", 3)));
  CHECK_FALSE(ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0c", 3)));
}
