package storetest

import (
	"testing"

	"github.com/presignd/presignd/store"
)

// testScanning follows a file through the malware scan's states: SCANNING
// holds the file's name and bytes as READY does, the scan's outcome is
// kept in ScanResult, and QUARANTINED releases both.
func testScanning(t *testing.T, newStore func(*testing.T) store.Store) {
	scanning := func(t *testing.T, s store.Store, size int64) *store.File {
		t.Helper()
		f := newFile(tenantA)
		f.NameScope, f.DisplayName, f.SizeBytes = "app-1", "upload.pdf", size
		mustCreate(t, s, f)
		got, err := s.UpdateFile(t.Context(), tenantA, f.ID, func(f *store.File) error {
			f.State = store.StateScanning
			return nil
		})
		wantErr(t, "UpdateFile to SCANNING", err, nil)
		return got
	}
	quota := store.Quota{MaxBytes: 1000}

	t.Run("a SCANNING file holds its display name and its bytes", func(t *testing.T) {
		s := newStore(t)
		scanning(t, s, 1000)
		other := newFile(tenantA)
		other.NameScope, other.DisplayName, other.SizeBytes = "app-1", "upload.pdf", 0
		wantNameTaken(t, "CreateFile of a SCANNING file's name", s.CreateFile(t.Context(), other, store.Quota{}), store.ErrNameTaken)
		wantErr(t, "CreateFile past the SCANNING file's bytes", s.CreateFile(t.Context(), newFile(tenantA), quota), store.ErrQuotaExceeded)
	})

	t.Run("a scan that finds nothing makes the file READY with its result kept, its bytes still counted", func(t *testing.T) {
		s := newStore(t)
		f := scanning(t, s, 1000)
		got, err := s.UpdateFile(t.Context(), tenantA, f.ID, func(f *store.File) error {
			f.State, f.ScanResult = store.StateReady, "clean"
			return nil
		})
		wantErr(t, "UpdateFile to READY", err, nil)
		checkFile(t, "GetFile after the scan", got, mustGet(t, s, tenantA, f.ID))
		if got.ScanResult != "clean" {
			t.Errorf("ScanResult = %q, want clean", got.ScanResult)
		}
		wantErr(t, "CreateFile past the READY file's bytes", s.CreateFile(t.Context(), newFile(tenantA), quota), store.ErrQuotaExceeded)
	})

	t.Run("a QUARANTINED file keeps its signature and frees its name and bytes", func(t *testing.T) {
		s := newStore(t)
		f := scanning(t, s, 1000)
		got, err := s.UpdateFile(t.Context(), tenantA, f.ID, func(f *store.File) error {
			f.State, f.ScanResult = store.StateQuarantined, "Eicar-Test-Signature"
			return nil
		})
		wantErr(t, "UpdateFile to QUARANTINED", err, nil)
		if back := mustGet(t, s, tenantA, f.ID); back.ScanResult != "Eicar-Test-Signature" || back.State != store.StateQuarantined {
			t.Errorf("GetFile = %s with ScanResult %q, want QUARANTINED with the signature", back.State, back.ScanResult)
		}
		checkFile(t, "GetFile after the quarantine", got, mustGet(t, s, tenantA, f.ID))
		other := newFile(tenantA)
		other.NameScope, other.DisplayName, other.SizeBytes = "app-1", "upload.pdf", 1000
		wantErr(t, "CreateFile of the quarantined file's name and bytes", s.CreateFile(t.Context(), other, quota), nil)
	})
}
