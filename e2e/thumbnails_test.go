package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	_ "image/jpeg"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/presignd/presignd/thumbnail/thumbnailtest"
)

// thumbnailsConfig is a configuration with one backend and a photos
// category making two JPEG thumbnails; events stay off, so the outbox the
// worker takes its work from is written for the thumbnails alone.
func thumbnailsConfig(t *testing.T, backend map[string]any) string {
	t.Helper()
	cfg := map[string]any{
		"backends": map[string]any{"media": backend},
		"categories": map[string]any{"photos": map[string]any{
			"backend": "media", "content_types": []string{"image/*"},
			"thumbnails": map[string]any{
				"sizes":  []any{map[string]any{"name": "small", "width": 128, "height": 128}, map[string]any{"name": "large", "width": 1024, "height": 1024}},
				"format": "jpeg",
			},
		}},
		// A thumbnail of a 12 MP photo takes a few seconds on a busy machine.
		"events":  map[string]any{"interval": "20ms", "timeout": "60s", "retry": map[string]any{"initial": "100ms", "max": "1s"}},
		"sweeper": map[string]any{"interval": "200ms"},
	}
	b, err := json.Marshal(cfg) // JSON is YAML
	if err != nil {
		t.Fatal(err)
	}
	return writeConfig(t, string(b))
}

// uploadPhoto uploads body as a photos file and completes it; it returns
// the file id.
func uploadPhoto(t *testing.T, inst *instance, name, contentType string, body []byte) string {
	t.Helper()
	code, created := inst.rest(t, http.MethodPost, "/v1/uploads", map[string]any{
		"category": "photos", "filename": name, "content_type": contentType, "size_bytes": len(body),
	})
	if code != http.StatusOK {
		t.Fatalf("CreateUpload: %d %v", code, created)
	}
	if code := upload(t, targetFromJSON(t, field(created, "upload_target")), body); code/100 != 2 {
		t.Fatalf("upload: %d", code)
	}
	id := str(created, "file.file_id")
	code, done := inst.rest(t, http.MethodPost, "/v1/files/"+id+":complete", nil)
	if code != http.StatusOK || str(done, "file.state") != "FILE_STATE_READY" {
		t.Fatalf("CompleteUpload: %d %v", code, done)
	}
	return id
}

// metricValue reads one sample of /metrics, 0 when it is absent.
func metricValue(t *testing.T, inst *instance, sample string) float64 {
	t.Helper()
	_, body, _ := httpGet(t, inst.HTTPURL+"/metrics")
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

func fetch(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestThumbnailsOnLocal(t *testing.T) {
	t.Parallel()
	runThumbnails(t, map[string]any{"driver": "local"})
}

func TestThumbnailsOnS3(t *testing.T) {
	t.Parallel()
	runThumbnails(t, s3Backend(t))
}

func runThumbnails(t *testing.T, backend map[string]any) {
	requireProc(t)
	config := thumbnailsConfig(t, backend)
	inst := startBinary(t, plainBinary(t), "--config", config)
	var thumbURLs []string

	t.Run("a 4000x3000 JPEG gets a 128x96 and a 1024x768 JPEG thumbnail, each downloadable by name", func(t *testing.T) {
		id := uploadPhoto(t, inst, "photo.jpg", "image/jpeg", thumbnailtest.JPEG(4000, 3000))
		var file map[string]any
		eventually(t, 60*time.Second, func() (bool, string) {
			_, file = inst.rest(t, http.MethodGet, "/v1/files/"+id, nil)
			file, _ = file["file"].(map[string]any)
			list, _ := field(file, "thumbnails").([]any)
			return len(list) == 2, fmt.Sprintf("file %v", file)
		})
		want := map[string][2]int{"small": {128, 96}, "large": {1024, 768}}
		list, _ := field(file, "thumbnails").([]any)
		for i, name := range []string{"small", "large"} {
			th := list[i]
			if str(th, "name") != name || str(th, "content_type") != "image/jpeg" || !strings.HasSuffix(str(th, "key"), "~thumbs/"+name+".jpg") {
				t.Errorf("thumbnail %d = %v", i, th)
			}
			code, dl := inst.rest(t, http.MethodPost, "/v1/files/"+id+":download", map[string]any{"thumbnail": name})
			if code != http.StatusOK {
				t.Fatalf("CreateDownloadUrl of %s: %d %v", name, code, dl)
			}
			code, body := fetch(t, str(dl, "url"))
			if code != http.StatusOK {
				t.Fatalf("GET thumbnail %s: %d %s", name, code, body)
			}
			cfg, format, err := image.DecodeConfig(bytes.NewReader(body))
			if err != nil {
				t.Fatalf("thumbnail %s: %v", name, err)
			}
			w := want[name]
			if format != "jpeg" || cfg.Width != w[0] || cfg.Height != w[1] {
				t.Errorf("thumbnail %s is a %s of %d×%d, want a jpeg of %d×%d", name, format, cfg.Width, cfg.Height, w[0], w[1])
			}
			if got := fmt.Sprint(field(th, "width"), "x", field(th, "height")); got != fmt.Sprint(float64(w[0]), "x", float64(w[1])) {
				t.Errorf("thumbnail %s is recorded as %s", name, got)
			}
			if sz := str(th, "size_bytes"); sz != strconv.Itoa(len(body)) {
				t.Errorf("thumbnail %s is recorded with %s bytes, has %d", name, sz, len(body))
			}
			thumbURLs = append(thumbURLs, str(dl, "url"))
		}
		code, bad := inst.rest(t, http.MethodPost, "/v1/files/"+id+":download", map[string]any{"thumbnail": "huge"})
		if code != http.StatusBadRequest || !slices.Contains(violatedFields(bad), "thumbnail") {
			t.Errorf("a thumbnail the category lacks: %d %v, want 400 naming thumbnail", code, bad)
		}
		if v := metricValue(t, inst, `presignd_thumbnails_generated_total{category="photos"}`); v != 2 {
			t.Errorf("presignd_thumbnails_generated_total = %v, want 2", v)
		}

		t.Run("deleting the file deletes its thumbnails", func(t *testing.T) {
			if code, body := inst.rest(t, http.MethodDelete, "/v1/files/"+id, nil); code != http.StatusOK {
				t.Fatalf("DeleteFile: %d %v", code, body)
			}
			eventually(t, 30*time.Second, func() (bool, string) {
				var codes []int
				for _, u := range thumbURLs {
					code, _ := fetch(t, u)
					codes = append(codes, code)
				}
				return !slices.Contains(codes, http.StatusOK), fmt.Sprintf("thumbnail downloads answer %v", codes)
			})
		})
	})

	t.Run("a PNG declaring 100000x100000 pixels is refused once, without the process growing past 100 MB", func(t *testing.T) {
		// A process of its own, whose peak RSS is the bomb's alone.
		inst := startBinary(t, plainBinary(t), "--config", config)
		pid := inst.cmd.Process.Pid
		id := uploadPhoto(t, inst, "bomb.png", "image/png", thumbnailtest.BombPNG(100000, 100000))
		eventually(t, 30*time.Second, func() (bool, string) {
			v := metricValue(t, inst, `presignd_thumbnail_failures_total{category="photos",reason="refused"}`)
			return v == 1, fmt.Sprintf("refused: %v", v)
		})
		_, file := inst.rest(t, http.MethodGet, "/v1/files/"+id, nil)
		if th := field(file, "file.thumbnails"); th != nil {
			if list, _ := th.([]any); len(list) > 0 {
				t.Errorf("the bomb got thumbnails %v", th)
			}
		}
		code, body := inst.rest(t, http.MethodPost, "/v1/files/"+id+":download", map[string]any{"thumbnail": "small"})
		if code != http.StatusNotFound {
			t.Errorf("the bomb's small thumbnail: %d %v, want 404", code, body)
		}
		if v := metricValue(t, inst, `presignd_thumbnail_failures_total{category="photos",reason="error"}`); v != 0 {
			t.Errorf("%v failures to retry, want none: a refused image is not retried", v)
		}
		peak := procStatusKiB(t, pid, "VmHWM")
		t.Logf("server peak RSS (VmHWM): %d KiB", peak)
		if peak > 100<<10 {
			t.Errorf("server peak RSS %d KiB, want under 100 MB", peak)
		}
	})
}
