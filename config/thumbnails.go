package config

import (
	"fmt"
	"regexp"

	"github.com/presignd/presignd/thumbnail"
)

// Thumbnails configures the thumbnails of a category's images. After a file
// becomes READY, a worker off the request path decodes it (JPEG, PNG, GIF
// or WebP), scales it to fit inside each size (keeping its aspect ratio,
// never scaling up), stores each thumbnail on the category's backend under
// "<object key>~thumbs/<name>.<jpg|png>" (a key no key template can
// render) and lists them on the file; CreateDownloadUrl signs one by name.
// Deleting the file deletes them. An object that is not such an image,
// or exceeds the limits, gets no thumbnails and is not retried. The work
// goes through the events outbox, which is written whenever a category has
// thumbnails, even with events.enabled off.
type Thumbnails struct {
	// Sizes are the thumbnails to make, each a box its image fits inside:
	// a name (lower-case letters, digits, _ and -, at most 32) and a width
	// and height of 1 to 4096 pixels. Empty turns thumbnails off.
	Sizes []ThumbnailSize `yaml:"sizes"`
	// Format is jpeg (default) or png. A JPEG thumbnail of a transparent
	// image is flattened onto white.
	Format string `yaml:"format"`
	// Quality is the JPEG quality, 1 to 100 (default 82).
	Quality int `yaml:"quality"`
	// MaxPixels refuses an image whose header declares more pixels than
	// this, before it is decoded (default 40000000, at most 250000000).
	// Decoding takes about 4 bytes of memory per pixel.
	MaxPixels int64 `yaml:"max_pixels"`
	// MaxSize refuses an object larger than this (default 64MiB, at most
	// 1GiB); it is read into memory whole.
	MaxSize ByteSize `yaml:"max_size"`
}

// ThumbnailSize is one thumbnail of a category's images.
type ThumbnailSize struct {
	// Name identifies the thumbnail, in CreateDownloadUrl and on the file.
	Name string `yaml:"name"`
	// Width is the widest the thumbnail may be, in pixels.
	Width int `yaml:"width"`
	// Height is the tallest the thumbnail may be, in pixels.
	Height int `yaml:"height"`
}

var thumbnailNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// Enabled reports whether the category makes thumbnails.
func (t Thumbnails) Enabled() bool { return len(t.Sizes) > 0 }

// Spec is the rendering spec of t, with defaults applied.
func (t Thumbnails) Spec() thumbnail.Spec {
	spec := thumbnail.Spec{Format: t.Format, Quality: t.Quality, MaxPixels: t.MaxPixels, MaxBytes: int64(t.MaxSize)}
	for _, s := range t.Sizes {
		spec.Sizes = append(spec.Sizes, thumbnail.Size{Name: s.Name, Width: s.Width, Height: s.Height})
	}
	if spec.Format == "" {
		spec.Format = thumbnail.FormatJPEG
	}
	return spec
}

func (t Thumbnails) names() []string {
	var out []string
	for _, s := range t.Sizes {
		out = append(out, s.Name)
	}
	return out
}

func validateThumbnails(key string, t Thumbnails, add func(key, format string, args ...any)) {
	seen := map[string]bool{}
	for i, s := range t.Sizes {
		k := fmt.Sprintf("%s.sizes[%d]", key, i)
		if !thumbnailNamePattern.MatchString(s.Name) {
			add(k+".name", "must match %s, not %q", thumbnailNamePattern, s.Name)
		} else if seen[s.Name] {
			add(k+".name", "%q is used twice", s.Name)
		}
		seen[s.Name] = true
		if s.Width < 1 || s.Width > 4096 {
			add(k+".width", "must be between 1 and 4096, not %d", s.Width)
		}
		if s.Height < 1 || s.Height > 4096 {
			add(k+".height", "must be between 1 and 4096, not %d", s.Height)
		}
	}
	switch t.Format {
	case "", thumbnail.FormatJPEG, thumbnail.FormatPNG:
	default:
		add(key+".format", "must be jpeg or png, not %q", t.Format)
	}
	if t.Quality < 0 || t.Quality > 100 {
		add(key+".quality", "must be between 1 and 100, not %d", t.Quality)
	}
	if t.MaxPixels < 0 || t.MaxPixels > 250_000_000 {
		add(key+".max_pixels", "must be between 1 and 250000000, not %d", t.MaxPixels)
	}
	if t.MaxSize < 0 || t.MaxSize > 1<<30 {
		add(key+".max_size", "must be between 1B and 1GiB")
	}
}

// NeedsOutbox reports whether the store must write its events outbox:
// when events are on, or when a category scans or makes thumbnails (the
// scan and thumbnail workers take their work from the outbox's
// file.scanning and file.ready events).
func (c *Config) NeedsOutbox() bool {
	if c.Events.Enabled {
		return true
	}
	for _, cat := range c.Categories {
		if cat.Scan || cat.Thumbnails.Enabled() {
			return true
		}
	}
	return false
}
