package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	presigndv1 "github.com/presignd/presignd/gen/presignd/v1"
	"github.com/presignd/presignd/signer/signertest"
	"github.com/presignd/presignd/store"
)

// buryAll routes every event of the env's outbox to one sink and buries
// its deliveries, as a dispatcher that gave up would; it returns the
// delivery ids, oldest first.
func buryAll(t *testing.T, env *testEnv) []int64 {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	evs, err := env.store.ClaimEvents(ctx, now, now.Add(time.Minute), 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if err := env.store.RouteEvent(ctx, ev.ID, []string{"webhook:rx"}, now); err != nil {
			t.Fatal(err)
		}
	}
	ds, err := env.store.ClaimDeliveries(ctx, now, now.Add(time.Minute), 1000)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for i, d := range ds {
		if err := env.store.BuryDelivery(ctx, d.ID, now.Add(time.Duration(i)*time.Millisecond), "webhook answered 500"); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, d.ID)
	}
	return ids
}

func TestDeadLettersAreListedAndRedeliveredWithinTheTenant(t *testing.T) {
	env := newTestEnvWith(t, envOptions{events: true})
	var acmeFiles []string
	for i := range 3 {
		acmeFiles = append(acmeFiles, env.createReady(t, "acme", "a"+strconv.Itoa(i)+".txt", []byte("acme")).GetFileId())
	}
	env.createReady(t, "globex", "g.txt", []byte("globex"))
	if n := len(buryAll(t, env)); n != 4 {
		t.Fatalf("%d deliveries buried, want 4 (one file.ready per file)", n)
	}

	ctx := env.as("acme")
	var got []*presigndv1.DeadLetter
	token := ""
	for page := 0; ; page++ {
		resp, err := env.admin.ListDeadLetters(ctx, &presigndv1.ListDeadLettersRequest{PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, resp.GetDeadLetters()...)
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
		if page > 3 {
			t.Fatal("pages never end")
		}
	}
	if len(got) != 3 {
		t.Fatalf("acme lists %d dead letters, want its 3", len(got))
	}
	for i, dl := range got {
		if want := acmeFiles[len(acmeFiles)-1-i]; dl.GetFileId() != want {
			t.Errorf("dead letter %d is of file %s, want %s (newest first)", i, dl.GetFileId(), want)
		}
		if dl.GetEventType() != store.EventFileReady || dl.GetSink() != "webhook:rx" || dl.GetAttempts() != 1 ||
			dl.GetLastError() != "webhook answered 500" || dl.GetEventId() == "" || dl.GetDeadTime() == nil || dl.GetEventTime() == nil {
			t.Errorf("dead letter %v", dl)
		}
	}

	t.Run("another tenant's dead letter is not found", func(t *testing.T) {
		_, err := env.admin.RedeliverDeadLetter(env.as("globex"), &presigndv1.RedeliverDeadLetterRequest{DeliveryId: got[0].GetDeliveryId()})
		wantCode(t, err, codes.NotFound)
	})
	t.Run("a delivery id that is not a number is a field error", func(t *testing.T) {
		_, err := env.admin.RedeliverDeadLetter(ctx, &presigndv1.RedeliverDeadLetterRequest{DeliveryId: "../1"})
		wantCode(t, err, codes.InvalidArgument)
	})
	t.Run("a page token of another tenant is a field error", func(t *testing.T) {
		resp, err := env.admin.ListDeadLetters(ctx, &presigndv1.ListDeadLettersRequest{PageSize: 1})
		if err != nil {
			t.Fatal(err)
		}
		_, err = env.admin.ListDeadLetters(env.as("globex"), &presigndv1.ListDeadLettersRequest{PageToken: resp.GetNextPageToken()})
		wantCode(t, err, codes.InvalidArgument)
	})
	t.Run("redelivered, a dead letter is pending again and no longer listed", func(t *testing.T) {
		if _, err := env.admin.RedeliverDeadLetter(ctx, &presigndv1.RedeliverDeadLetterRequest{DeliveryId: got[0].GetDeliveryId()}); err != nil {
			t.Fatal(err)
		}
		resp, err := env.admin.ListDeadLetters(ctx, &presigndv1.ListDeadLettersRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.GetDeadLetters()) != 2 {
			t.Errorf("%d dead letters after a redelivery, want 2", len(resp.GetDeadLetters()))
		}
		now := time.Now()
		ds, err := env.store.ClaimDeliveries(context.Background(), now, now.Add(time.Minute), 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != 1 || strconv.FormatInt(ds[0].ID, 10) != got[0].GetDeliveryId() || ds[0].Event.ID != got[0].GetEventId() {
			t.Errorf("claimable after the redelivery: %v, want delivery %s with event %s", ds, got[0].GetDeliveryId(), got[0].GetEventId())
		}
	})
}

func TestFileJSONIsTheFileAsGetFileShowsIt(t *testing.T) {
	env := newTestEnvWith(t, envOptions{events: true})
	f := env.createReady(t, "acme", "a.txt", []byte("hello"))
	req, err := http.NewRequest(http.MethodGet, env.restURL+"/v1/files/"+f.GetFileId(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+env.keys["acme"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var rest struct {
		File json.RawMessage `json:"file"`
	}
	if err := json.Unmarshal(raw, &rest); err != nil {
		t.Fatalf("GetFile: %d %s", resp.StatusCode, raw)
	}
	rec, err := env.store.GetFile(context.Background(), "acme", f.GetFileId())
	if err != nil {
		t.Fatal(err)
	}
	got, err := env.server.FileJSON(rec)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(rest.File) {
		t.Errorf("FileJSON:\n %s\nGET /v1/files/{id}:\n %s", got, rest.File)
	}
}

// BenchmarkOutboxCost measures the CPU the process spends per file on
// CreateUpload and CompleteUpload over gRPC (client and server in this
// process, SQLite) with the store's outbox off and on, alternating
// between two servers file by file so that both see the same machine;
// the upload of the bytes between the calls is not counted. It reports
// cpu-µs/file for each and the ratio on/off:
//
//	go test ./server -run '^$' -bench OutboxCost -benchtime 2000x
func BenchmarkOutboxCost(b *testing.B) {
	envs := []*testEnv{newTestEnvWith(b, envOptions{}), newTestEnvWith(b, envOptions{events: true})}
	body := []byte("a small file of events\n")
	var cpu [2]time.Duration
	var files [2]int
	one := func(env *testEnv) time.Duration {
		ctx := env.as("acme")
		before := processCPU(b)
		created, err := env.client.CreateUpload(ctx, &presigndv1.CreateUploadRequest{Filename: "f.txt", ContentType: "text/plain", SizeBytes: int64(len(body))})
		if err != nil {
			b.Fatal(err)
		}
		spent := processCPU(b) - before
		resp, err := signertest.Upload(context.Background(), http.DefaultClient, targetOf(b, created.GetUploadTarget()), body)
		if err != nil || resp.StatusCode/100 != 2 {
			b.Fatalf("upload: %v %v", resp, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		before = processCPU(b)
		done, err := env.client.CompleteUpload(ctx, &presigndv1.CompleteUploadRequest{FileId: created.GetFile().GetFileId()})
		if err != nil || done.GetFile().GetState() != presigndv1.FileState_FILE_STATE_READY {
			b.Fatalf("complete: %v %v", done, err)
		}
		return spent + processCPU(b) - before
	}
	i := 0
	for b.Loop() {
		k := i % 2
		cpu[k] += one(envs[k])
		files[k]++
		i++
	}
	if files[0] == 0 || files[1] == 0 {
		return
	}
	off := float64(cpu[0].Microseconds()) / float64(files[0])
	on := float64(cpu[1].Microseconds()) / float64(files[1])
	b.ReportMetric(off, "cpu-µs/file-off")
	b.ReportMetric(on, "cpu-µs/file-on")
	b.ReportMetric(on/off, "on/off")
	// The events written, one file.ready per file completed with events on.
	if unrouted, _, _, err := envs[1].store.OutboxBacklog(context.Background()); err != nil || unrouted < int64(files[1]) {
		b.Errorf("%d events unrouted (%v), want at least %d", unrouted, err, files[1])
	}
	if unrouted, _, _, err := envs[0].store.OutboxBacklog(context.Background()); err != nil || unrouted != 0 {
		b.Errorf("%d events with events off (%v), want 0", unrouted, err)
	}
}

// processCPU is the user and system CPU time the process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
