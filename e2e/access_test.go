package e2e

import (
	"net/http"
	"testing"
	"time"
)

// TestDenyListAcrossReplicas: a deny entry added through one replica's
// AdminService refuses the owner's files on that replica at once and on
// another replica of the same PostgreSQL database within the deny-list
// cache TTL (5s); removing it lifts it the same way.
func TestDenyListAcrossReplicas(t *testing.T) {
	t.Parallel()
	cfg, _, _ := postgresReplicas(t, `sweeper: {interval: 0s}
categories:
  kyc:
    owner_fields:
      customer_id: {required: true}
`)
	a := start(t, "--config", cfg)
	b := start(t, "--config", cfg)
	code, created := a.rest(t, "POST", "/v1/uploads", map[string]any{
		"category": "kyc", "filename": "passport.pdf", "content_type": "application/pdf", "size_bytes": 10,
		"owner": map[string]string{"customer_id": "c-9"},
	})
	if code != http.StatusOK {
		t.Fatalf("CreateUpload: %d %v", code, created)
	}
	path := "/v1/files/" + str(created, "file.file_id")
	getOn := func(inst *instance) int {
		code, _ := inst.rest(t, "GET", path, nil)
		return code
	}
	if getOn(b) != http.StatusOK { // B has now read (and cached) the empty deny list
		t.Fatalf("GetFile on B before the entry: %d", getOn(b))
	}
	entry := map[string]any{"category": "kyc", "field": "customer_id", "value": "c-9"}
	if code, resp := a.rest(t, "POST", "/v1/admin/denyEntries", entry); code != http.StatusOK {
		t.Fatalf("AddDenyEntry on A: %d %v", code, resp)
	}
	if code := getOn(a); code != http.StatusNotFound {
		t.Fatalf("GetFile on A right after the entry: %d, want 404", code)
	}
	if code, resp := a.rest(t, "POST", "/v1/uploads", map[string]any{
		"category": "kyc", "filename": "again.pdf", "content_type": "application/pdf", "size_bytes": 10,
		"owner": map[string]string{"customer_id": "c-9"},
	}); code != http.StatusForbidden {
		t.Fatalf("CreateUpload for the denied customer on A: %d %v, want 403", code, resp)
	}
	eventually(t, 15*time.Second, func() (bool, string) {
		code := getOn(b)
		return code == http.StatusNotFound, "GetFile on B answers " + http.StatusText(code)
	})
	if code, resp := b.rest(t, "GET", "/v1/admin/denyEntries", nil); code != http.StatusOK || len(field(resp, "deny_entries").([]any)) != 1 {
		t.Fatalf("ListDenyEntries on B: %d %v, want the one entry", code, resp)
	}
	if code, resp := a.rest(t, "POST", "/v1/admin/denyEntries:remove", entry); code != http.StatusOK {
		t.Fatalf("RemoveDenyEntry on A: %d %v", code, resp)
	}
	if code := getOn(a); code != http.StatusOK {
		t.Fatalf("GetFile on A right after the removal: %d, want 200", code)
	}
	eventually(t, 15*time.Second, func() (bool, string) {
		code := getOn(b)
		return code == http.StatusOK, "GetFile on B answers " + http.StatusText(code)
	})
}
