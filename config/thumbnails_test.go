package config

import (
	"slices"
	"strings"
	"testing"

	"github.com/presignd/presignd/thumbnail"
)

func TestParseThumbnails(t *testing.T) {
	c, err := Parse([]byte("events: {enabled: false}\ncategories:\n  photos:\n    content_types: [image/*]\n    thumbnails:\n      sizes: [{name: small, width: 128, height: 128}, {name: large, width: 1024, height: 768}]\n      format: png\n      max_pixels: 1000000\n      max_size: 8MiB\n  docs: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	spec := c.Categories["photos"].Thumbnails.Spec()
	want := thumbnail.Spec{Sizes: []thumbnail.Size{{Name: "small", Width: 128, Height: 128}, {Name: "large", Width: 1024, Height: 768}},
		Format: "png", MaxPixels: 1000000, MaxBytes: 8 << 20}
	if !slices.Equal(spec.Sizes, want.Sizes) || spec.Format != want.Format || spec.MaxPixels != want.MaxPixels || spec.MaxBytes != want.MaxBytes {
		t.Errorf("spec = %+v, want %+v", spec, want)
	}
	if !c.NeedsOutbox() {
		t.Error("a category with thumbnails does not turn the outbox on with events off")
	}
	cats, err := c.Policies()
	if err != nil {
		t.Fatal(err)
	}
	if got := cats["photos"].Thumbnails; !slices.Equal(got, []string{"small", "large"}) {
		t.Errorf("policy thumbnails = %q", got)
	}
	if cats["docs"].Thumbnails != nil || c.Categories["docs"].Thumbnails.Enabled() {
		t.Error("a category without sizes makes thumbnails")
	}
	c, err = Parse([]byte("categories:\n  docs: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.NeedsOutbox() {
		t.Error("the outbox is on without events or thumbnails")
	}
}

func TestThumbnailsProblemsNameTheirKey(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"a size name with a slash", "{sizes: [{name: a/b, width: 1, height: 1}]}", "categories.p.thumbnails.sizes[0].name"},
		{"two sizes of one name", "{sizes: [{name: a, width: 1, height: 1}, {name: a, width: 2, height: 2}]}", "categories.p.thumbnails.sizes[1].name"},
		{"a width of zero", "{sizes: [{name: a, width: 0, height: 1}]}", "categories.p.thumbnails.sizes[0].width"},
		{"a height over 4096", "{sizes: [{name: a, width: 1, height: 5000}]}", "categories.p.thumbnails.sizes[0].height"},
		{"a format of gif", "{sizes: [{name: a, width: 1, height: 1}], format: gif}", "categories.p.thumbnails.format"},
		{"a quality over 100", "{sizes: [{name: a, width: 1, height: 1}], quality: 101}", "categories.p.thumbnails.quality"},
		{"a pixel limit over 250 million", "{sizes: [{name: a, width: 1, height: 1}], max_pixels: 300000000}", "categories.p.thumbnails.max_pixels"},
		{"a size limit over 1GiB", "{sizes: [{name: a, width: 1, height: 1}], max_size: 2GiB}", "categories.p.thumbnails.max_size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte("categories:\n  p:\n    thumbnails: " + tc.yaml + "\n"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one naming %s", err, tc.want)
			}
		})
	}
}
