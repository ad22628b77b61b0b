package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/presignd/presignd/signer/gcs/gcstest"
)

func TestDoctorAgainstTheGCSFake(t *testing.T) {
	t.Setenv("STORAGE_EMULATOR_HOST", "")
	t.Setenv("DOCTOR_TEST_HMAC_SECRET", gcstest.DefaultHMACSecret)
	allowAll := []gcstest.CORS{{Origin: []string{"https://app.example"}, Method: []string{"PUT", "POST"}, ResponseHeader: []string{"Content-Type", "Content-MD5"}}}
	tests := []struct {
		name string
		// hmac signs with the fake's HMAC key instead of its RSA key.
		hmac bool
		cors []gcstest.CORS
		skew time.Duration
		// want are patterns of report lines (a Date header has whole
		// seconds, so a measured skew is known to about a second); failed
		// says whether doctor fails.
		want   []string
		failed bool
	}{
		{name: "a bucket with the CORS rule it needs passes every check", cors: allowAll,
			want: []string{"PASS  credentials", "PASS  clock", "PASS  CORS         origin https://app.example may PUT with Content-Md5, Content-Type", "PASS  round trip", "doctor: every check passed"}},
		{name: "an HMAC key passes every check", hmac: true, cors: allowAll,
			want: []string{"PASS  credentials", "PASS  round trip", "doctor: every check passed"}},
		{name: "a bucket without CORS fails the CORS check naming the rule to add",
			want:   []string{"FAIL  CORS         the bucket has no CORS rules; add a CORS rule allowing origin https://app.example, method PUT and headers Content-Md5, Content-Type", "PASS  round trip"},
			failed: true},
		{name: "a rule without a signed header fails naming the header",
			cors:   []gcstest.CORS{{Origin: []string{"*"}, Method: []string{"PUT"}, ResponseHeader: []string{"Content-Type"}}},
			want:   []string{"FAIL  CORS         the rule for origin https://app.example and method PUT does not allow headers Content-Md5"},
			failed: true},
		{name: "a backend clock two minutes ahead fails with the measured skew", cors: allowAll, skew: 2 * time.Minute,
			want: []string{"FAIL  clock        the backend's clock is (1m59s|2m0s|2m1s) ahead of this host's"}, failed: true},
		{name: "a backend clock ninety seconds behind fails with the measured skew", cors: allowAll, skew: -90 * time.Second,
			want: []string{"FAIL  clock        the backend's clock is 1m(29|30|31)s behind this host's"}, failed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := gcstest.NewServer(t, "presignd-doctor")
			srv.SetCORS(tt.cors)
			if tt.skew != 0 {
				srv.SetNow(func() time.Time { return time.Now().Add(tt.skew) })
			}
			dir := t.TempDir()
			creds := filepath.Join(dir, "creds.json")
			if err := os.WriteFile(creds, srv.CredentialsJSON, 0o600); err != nil {
				t.Fatal(err)
			}
			hmac := ""
			if tt.hmac {
				hmac = ", hmac_access_id: " + srv.HMACAccessID + ", hmac_secret_env: DOCTOR_TEST_HMAC_SECRET"
			}
			cfg := "data_dir: " + dir + "\nbrowser_origins: ['https://app.example']\nbackends:\n" +
				"  files: {driver: local}\n" +
				"  gcs: {driver: gcs, gcs: {bucket: presignd-doctor, endpoint: '" + srv.URL + "', credentials_file: '" + creds + "'" + hmac + "}}\n" +
				"categories:\n  docs: {backend: gcs, require_checksum: MD5}\n  notes: {backend: files}\n"
			path := filepath.Join(dir, "presignd.yaml")
			if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			err := doctorCommand([]string{"--config", path}, &stdout, &stderr)
			if failed := errors.Is(err, errChecksFailed); failed != tt.failed || (err != nil && !failed) {
				t.Fatalf("doctor: %v, want failed %v\n%s%s", err, tt.failed, stdout.String(), stderr.String())
			}
			t.Logf("report:\n%s", stdout.String())
			for _, w := range tt.want {
				if !regexp.MustCompile(w).MatchString(stdout.String()) {
					t.Errorf("report lacks %q:\n%s", w, stdout.String())
				}
			}
			if !strings.Contains(stdout.String(), "backend files (local)\n  SKIP") {
				t.Errorf("the local backend is not skipped:\n%s", stdout.String())
			}
			if objs, _, _ := srv.Fake.ListObjects("presignd-doctor", "", "", false); len(objs) != 0 {
				t.Errorf("the round trip left %d objects behind", len(objs))
			}
		})
	}
}
