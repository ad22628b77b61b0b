package server

import (
	"path"
	"slices"
	"strings"

	"github.com/presignd/presignd/store"
)

// thumbnailOf returns f's thumbnail name: a name f's category does not
// configure is a field error on "thumbnail"; a configured one f does not
// have (not made yet, or f is not an image the worker could read) is
// store.ErrNotFound.
func (s *Server) thumbnailOf(f *store.File, name string) (store.Thumbnail, error) {
	for _, t := range f.Thumbnails {
		if t.Name == name {
			return t, nil
		}
	}
	var names []string
	if cat, ok := s.categories[f.Category]; ok {
		names = cat.Thumbnails
	}
	switch {
	case len(names) == 0:
		return store.Thumbnail{}, fieldError("thumbnail", "category "+f.Category+" makes no thumbnails")
	case !slices.Contains(names, name):
		return store.Thumbnail{}, fieldError("thumbnail", "names no thumbnail of category "+f.Category+" (it makes "+strings.Join(names, ", ")+")")
	}
	return store.Thumbnail{}, userError(store.ErrNotFound, "file %s has no thumbnail %q (yet)", f.ID, name)
}

// thumbnailFilename is the name a thumbnail downloads as: the file's name
// without its extension, the thumbnail's name and its format's extension
// ("cat.png" → "cat-small.jpg").
func thumbnailFilename(filename string, t store.Thumbnail) string {
	base := strings.TrimSuffix(filename, path.Ext(filename))
	if base == "" {
		base = "thumbnail"
	}
	return base + "-" + t.Name + path.Ext(t.Key)
}
