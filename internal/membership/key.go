package membership

import (
	"crypto/hkdf"
	"crypto/sha256"
)

// memberlistPurpose is the HKDF info of the gossip encryption key. Bump
// the version to change how the key is derived: nodes with different keys
// cannot talk.
const memberlistPurpose = "objstore memberlist v1"

// DeriveKey derives a 32-byte key for purpose from the cluster's shared
// passphrase with HKDF-SHA256 (no salt, purpose as the info). Each user of
// the passphrase (gossip encryption here, node-to-node HTTP
// authentication elsewhere) derives its own key with its own purpose
// string, so one key never serves two protocols.
//
// HKDF does not slow down guessing the way a password hash does: the
// passphrase should be long and random (say 32 bytes from a CSPRNG,
// base64-encoded), not a word.
func DeriveKey(secret, purpose string) []byte {
	key, err := hkdf.Key(sha256.New, []byte(secret), nil, purpose, 32)
	if err != nil {
		// hkdf.Key fails only for lengths above 255 hash sizes.
		panic("membership: hkdf: " + err.Error())
	}
	return key
}
