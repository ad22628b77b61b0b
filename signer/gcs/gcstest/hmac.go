package gcstest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
)

// DefaultHMACAccessID and DefaultHMACSecret are the HMAC key a Server
// trusts besides its service account (GCS access ids are 61 characters
// starting GOOG1; this one is shorter and says what it is).
const (
	DefaultHMACAccessID = "GOOG1PRESIGNDTESTHMACKEY"
	DefaultHMACSecret   = "presignd-test-hmac-secret/0123456789+abcdefgh"
)

// DefaultLocation is the location of a Server's bucket: an HMAC credential
// scope may name it or "auto".
const DefaultLocation = "us-central1"

// CORS is one CORS rule of the bucket, as the JSON API's bucket resource
// states it.
type CORS struct {
	Origin         []string `json:"origin,omitempty"`
	Method         []string `json:"method,omitempty"`
	ResponseHeader []string `json:"responseHeader,omitempty"`
	MaxAgeSeconds  int      `json:"maxAgeSeconds,omitempty"`
}

// SetCORS sets the bucket's CORS rules, which the JSON API's bucket
// resource (GET /storage/v1/b/{bucket}) reports; nil removes them.
func (s *Server) SetCORS(rules []CORS) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cors = rules
}

// serveBucket answers GET /storage/v1/b/{bucket}: the bucket resource with
// its location and CORS rules (fake-gcs-server keeps neither).
func (s *Server) serveBucket(w http.ResponseWriter) {
	s.mu.Lock()
	cors := s.cors
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_ = json.NewEncoder(w).Encode(struct {
		Kind     string `json:"kind"`
		ID       string `json:"id"`
		Name     string `json:"name"`
		Location string `json:"location"`
		CORS     []CORS `json:"cors,omitempty"`
	}{"storage#bucket", s.Bucket, s.Bucket, strings.ToUpper(DefaultLocation), cors})
}

// hmacSignature is GOOG4-HMAC-SHA256's signature of msg, in hex, under
// secret for the scope "<day>/<region>/storage/goog4_request": written
// here from GCS's documentation, apart from the signer's own code.
func hmacSignature(secret, day, region string, msg []byte) string {
	mac := func(key []byte, data string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(data))
		return m.Sum(nil)
	}
	k := mac([]byte("GOOG4"+secret), day)
	k = mac(k, region)
	k = mac(k, "storage")
	k = mac(k, "goog4_request")
	return hex.EncodeToString(mac(k, string(msg)))
}

// checkHMAC verifies sig (hex) over msg under the HMAC key a credential
// names: "<access id>/<day>/<region>/storage/goog4_request" with the trusted
// access id, the day of date and a region of "auto" or the bucket's
// location.
func (s *Server) checkHMAC(cred, date string, msg []byte, sig string) error {
	parts := strings.Split(cred, "/")
	if len(parts) != 5 || parts[0] != s.HMACAccessID {
		return denied("AccessDenied", "credential %q does not name the trusted HMAC key", cred)
	}
	if len(date) < 8 || parts[1] != date[:8] || parts[3] != "storage" || parts[4] != "goog4_request" ||
		(parts[2] != "auto" && parts[2] != DefaultLocation) {
		return denied("AccessDenied", "credential scope %q does not match date %q and location %s (or auto)", cred, date, DefaultLocation)
	}
	want := hmacSignature(s.HMACSecret, parts[1], parts[2], msg)
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(sig))) || len(sig) != len(want) {
		return denied("SignatureDoesNotMatch", "the request signature we calculated does not match the signature you provided")
	}
	return nil
}
