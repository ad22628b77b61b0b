package gcs

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The conformance vectors Google's client libraries share, kept in
// testdata (see testdata/README.md for their origin and license). This file is in
// package gcs so that both the tests of the V4 core (v4_test.go) and those
// of the Signer's API (vectors_test.go, package gcs_test) read them.

// SigningVector is a signed-URL case of the vectors.
type SigningVector struct {
	Description         string            `json:"description"`
	Bucket              string            `json:"bucket"`
	Object              string            `json:"object"`
	Method              string            `json:"method"`
	Expiration          int64             `json:"expiration"`
	Timestamp           time.Time         `json:"timestamp"`
	ExpectedURL         string            `json:"expectedUrl"`
	Headers             map[string]string `json:"headers"`
	QueryParameters     map[string]string `json:"queryParameters"`
	Scheme              string            `json:"scheme"`
	URLStyle            string            `json:"urlStyle"`
	BucketBoundHostname string            `json:"bucketBoundHostname"`
	Hostname            string            `json:"hostname"`
	ClientEndpoint      string            `json:"clientEndpoint"`
	EmulatorHostname    string            `json:"emulatorHostname"`
	UniverseDomain      string            `json:"universeDomain"`
}

// PostVector is a POST-policy case of the vectors.
type PostVector struct {
	Description string `json:"description"`
	PolicyInput struct {
		Scheme              string            `json:"scheme"`
		URLStyle            string            `json:"urlStyle"`
		BucketBoundHostname string            `json:"bucketBoundHostname"`
		Bucket              string            `json:"bucket"`
		Object              string            `json:"object"`
		Expiration          int64             `json:"expiration"`
		Timestamp           time.Time         `json:"timestamp"`
		Conditions          json.RawMessage   `json:"conditions"`
		Fields              map[string]string `json:"fields"`
	} `json:"policyInput"`
	PolicyOutput struct {
		URL                   string            `json:"url"`
		Fields                map[string]string `json:"fields"`
		ExpectedDecodedPolicy string            `json:"expectedDecodedPolicy"`
	} `json:"policyOutput"`
}

// ConformanceVectors reads the vectors in testdata and the
// service-account key they were made with.
func ConformanceVectors(t testing.TB) (credentials []byte, signing []SigningVector, post []PostVector) {
	t.Helper()
	vd := "testdata"
	raw, err := os.ReadFile(filepath.Join(vd, "v4_signatures.json"))
	if err != nil {
		t.Fatal(err)
	}
	credentials, err = os.ReadFile(filepath.Join(vd, "service-account.json"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		SigningV4Tests    []SigningVector `json:"signingV4Tests"`
		PostPolicyV4Tests []PostVector    `json:"postPolicyV4Tests"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.SigningV4Tests) == 0 || len(file.PostPolicyV4Tests) == 0 {
		t.Fatal("v4_signatures.json holds no cases")
	}
	return credentials, file.SigningV4Tests, file.PostPolicyV4Tests
}
