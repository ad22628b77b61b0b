package main

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLocalBackendPathsAreClean(t *testing.T) {
	for _, name := range []string{"local", "files"} {
		prefix := localPathPrefix(name)
		if strings.Count(prefix, "/"+name+"/") != 1 || strings.Contains(prefix, "/local/local/") || !strings.HasPrefix(prefix, "/objects/") {
			t.Errorf("localPathPrefix(%q) = %q, want /objects/%s/", name, prefix, name)
		}
	}
	data := t.TempDir()
	dir := defaultLocalDir(data, "local")
	rel, _ := filepath.Rel(data, dir)
	if rel != filepath.Join("backends", "local") {
		t.Errorf("defaultLocalDir = %s, want DATA_DIR/backends/local", rel)
	}
	// The signer keeps objects in DIR/objects: the path of an object must
	// not repeat "objects" around the backend's name.
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(filepath.Join(dir, "objects", "dev", "default", "x.txt"))}
	if strings.Contains(u.Path, "/objects/local/objects/") {
		t.Errorf("object path %s repeats objects/ around the backend name", u.Path)
	}

	// A data dir where an earlier version stored the backend keeps it.
	legacy := filepath.Join(data, "objects", "old")
	if err := os.MkdirAll(legacy, 0o700); err != nil {
		t.Fatal(err)
	}
	if got := defaultLocalDir(data, "old"); got != legacy {
		t.Errorf("defaultLocalDir with an existing %s = %s, want it kept", legacy, got)
	}
}
