package registry

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"

	"golang.org/x/crypto/bcrypt"
)

// Token prefixes say at a glance what a leaked token opens.
const (
	sellerTokenPrefix   = "brs_"
	resellerTokenPrefix = "brr_"
)

// NewToken returns a fresh bearer token: 256 random bits.
func NewToken(prefix string) string {
	return prefix + base64.RawURLEncoding.EncodeToString(RandomBytes(32))
}

// BcryptToken hashes a token for nats-server's password check. The
// lowest cost is enough: the token is 256 random bits, which no number of
// rounds makes easier or harder to guess, and a connection checks it.
func BcryptToken(token string) string {
	h, err := bcrypt.GenerateFromPassword([]byte(token), bcrypt.MinCost)
	if err != nil {
		panic("bcrypt of a token: " + err.Error()) // only for passwords over 72 bytes; tokens are 47
	}
	return string(h)
}

// HashToken is what the registry keeps instead of the token itself.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func RandomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error()) // the OS has no entropy: nothing safe to do
	}
	return b
}
