package auth

import "crypto/subtle"

// constantTimeEqual compares two secrets (or digests of secrets) in time
// that depends only on their lengths.
func constantTimeEqual(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }
