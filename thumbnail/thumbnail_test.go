package thumbnail_test

import (
	"bytes"
	"errors"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"strings"
	"testing"

	"github.com/presignd/presignd/thumbnail"
	"github.com/presignd/presignd/thumbnail/thumbnailtest"
)

func TestFit(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		w, h, bw, bh, gw, gh int
	}{
		{"a landscape image touches the box's width", 4000, 3000, 128, 128, 128, 96},
		{"a portrait image touches the box's height", 3000, 4000, 128, 128, 96, 128},
		{"an image smaller than the box is never scaled up", 100, 50, 128, 128, 100, 50},
		{"an image that fits one side is scaled by the other", 100, 400, 128, 128, 32, 128},
		{"a very thin image keeps at least one pixel", 10000, 1, 100, 100, 100, 1},
		{"a square image in a wide box touches its height", 500, 500, 300, 200, 200, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, h := thumbnail.Fit(tc.w, tc.h, tc.bw, tc.bh)
			if w != tc.gw || h != tc.gh {
				t.Errorf("Fit(%d, %d, %d, %d) = %d×%d, want %d×%d", tc.w, tc.h, tc.bw, tc.bh, w, h, tc.gw, tc.gh)
			}
		})
	}
}

var sizes = []thumbnail.Size{{Name: "small", Width: 128, Height: 128}, {Name: "large", Width: 1024, Height: 1024}}

func TestRender(t *testing.T) {
	for _, tc := range []struct {
		name   string
		input  []byte
		format string
		want   map[string][2]int
	}{
		{"a 4000×3000 JPEG gets JPEG thumbnails fitting each box", thumbnailtest.JPEG(4000, 3000), thumbnail.FormatJPEG,
			map[string][2]int{"small": {128, 96}, "large": {1024, 768}}},
		{"a transparent PNG gets PNG thumbnails, the small one not scaled up", thumbnailtest.PNG(200, 100), thumbnail.FormatPNG,
			map[string][2]int{"small": {128, 64}, "large": {200, 100}}},
		{"a transparent PNG gets JPEG thumbnails flattened onto white", thumbnailtest.PNG(300, 300), thumbnail.FormatJPEG,
			map[string][2]int{"small": {128, 128}, "large": {300, 300}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			imgs, err := thumbnail.Render(bytes.NewReader(tc.input), thumbnail.Spec{Sizes: sizes, Format: tc.format})
			if err != nil {
				t.Fatal(err)
			}
			if len(imgs) != len(sizes) {
				t.Fatalf("got %d thumbnails, want %d", len(imgs), len(sizes))
			}
			for i, img := range imgs {
				if img.Name != sizes[i].Name {
					t.Errorf("thumbnail %d is %q, want %q", i, img.Name, sizes[i].Name)
				}
				cfg, format, err := image.DecodeConfig(bytes.NewReader(img.Data))
				if err != nil {
					t.Fatalf("%s: %v", img.Name, err)
				}
				want := tc.want[img.Name]
				if format != tc.format || cfg.Width != want[0] || cfg.Height != want[1] || img.Width != want[0] || img.Height != want[1] {
					t.Errorf("%s: %s %d×%d (recorded %d×%d), want %s %d×%d", img.Name, format, cfg.Width, cfg.Height, img.Width, img.Height, tc.format, want[0], want[1])
				}
				if img.ContentType != "image/"+tc.format {
					t.Errorf("%s: content type %q", img.Name, img.ContentType)
				}
			}
		})
	}
}

func TestRenderFlattensTransparencyOntoWhite(t *testing.T) {
	imgs, err := thumbnail.Render(bytes.NewReader(thumbnailtest.PNG(64, 64)), thumbnail.Spec{Sizes: sizes[:1], Format: thumbnail.FormatJPEG})
	if err != nil {
		t.Fatal(err)
	}
	img, _, err := image.Decode(bytes.NewReader(imgs[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	// Half-transparent red over white is pink (255, ~127, ~127), not the
	// dark red of red over black.
	r, g, _, _ := img.At(32, 32).RGBA()
	if r>>8 < 240 || g>>8 < 100 {
		t.Errorf("center pixel r=%d g=%d, want half-transparent red flattened onto white", r>>8, g>>8)
	}
}

func TestRenderRefuses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		input []byte
		spec  thumbnail.Spec
		msg   string
	}{
		{"a PNG declaring 100000×100000 pixels, before decoding it", thumbnailtest.BombPNG(100000, 100000), thumbnail.Spec{}, "more than the 40000000 allowed"},
		{"an image with one pixel more than max_pixels", thumbnailtest.JPEG(101, 100), thumbnail.Spec{MaxPixels: 100 * 100}, "declares 101×100"},
		{"bytes that are not an image", []byte("%PDF-1.7\n"), thumbnail.Spec{}, "not a supported image"},
		{"an empty object", nil, thumbnail.Spec{}, "not a supported image"},
		{"an image longer than max_bytes", thumbnailtest.JPEG(64, 64), thumbnail.Spec{MaxBytes: 100}, "longer than 100 bytes"},
		{"a truncated JPEG", thumbnailtest.JPEG(64, 64)[:700], thumbnail.Spec{}, "corrupt jpeg"},
		{"a bomb within the pixel limit whose rows are missing", thumbnailtest.BombPNG(1000, 1000), thumbnail.Spec{}, "corrupt png"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.spec.Sizes = sizes
			_, err := thumbnail.Render(bytes.NewReader(tc.input), tc.spec)
			if !errors.Is(err, thumbnail.ErrRefused) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err = %v, want ErrRefused saying %q", err, tc.msg)
			}
		})
	}
}

// TestRenderBombAllocatesNothing checks that refusing a bomb costs its
// header, not its pixels: 100000² RGBA pixels would be 40 GB.
func TestRenderBombAllocatesNothing(t *testing.T) {
	bomb := thumbnailtest.BombPNG(100000, 100000)
	allocs := testing.AllocsPerRun(10, func() {
		if _, err := thumbnail.Render(bytes.NewReader(bomb), thumbnail.Spec{Sizes: sizes}); !errors.Is(err, thumbnail.ErrRefused) {
			t.Fatal(err)
		}
	})
	if allocs > 50 {
		t.Errorf("refusing a bomb took %.0f allocations", allocs)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(thumbnailtest.JPEG(16, 16))
	f.Add(thumbnailtest.PNG(16, 16))
	f.Add(thumbnailtest.BombPNG(100000, 100000))
	f.Add(thumbnailtest.BombPNG(64, 64))
	f.Add([]byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"))
	f.Add([]byte("RIFF\x00\x00\x00\x00WEBPVP8 "))
	const maxPixels = 1 << 20 // bounds what one input may allocate
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := thumbnail.Decode(data, maxPixels)
		if err != nil {
			if !errors.Is(err, thumbnail.ErrRefused) {
				t.Fatalf("error not wrapping ErrRefused: %v", err)
			}
			return
		}
		b := img.Bounds()
		if b.Empty() || int64(b.Dx())*int64(b.Dy()) > maxPixels {
			t.Fatalf("decoded %v", b)
		}
		if _, err := thumbnail.Scale(img, thumbnail.Spec{Sizes: []thumbnail.Size{{Name: "s", Width: 8, Height: 8}}}); err != nil {
			t.Fatal(err)
		}
	})
}

// BenchmarkRender12MP measures the thumbnail throughput for a 12 MP photo
// (4000×3000 JPEG) to two sizes; images/s is 1e9 / ns/op.
func BenchmarkRender12MP(b *testing.B) {
	data := thumbnailtest.JPEG(4000, 3000)
	spec := thumbnail.Spec{Sizes: sizes, Format: thumbnail.FormatJPEG}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := thumbnail.Render(bytes.NewReader(data), spec); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "images/s")
}
