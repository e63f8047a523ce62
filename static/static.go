// Package static embeds the status page's assets and names each by its
// content hash ("style.3f2a1b9c0d4e.css"), so they can be served immutable
// for a year: a changed file gets a new name.
package static

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"path"
	"slices"
	"strings"
	"sync"
)

//go:embed *.css *.svg *.js
var files embed.FS

// Prefix is the URL path the assets are served under.
const Prefix = "/static/"

// File is one embedded asset.
type File struct {
	Name        string // original name: "style.css"
	Hashed      string // content-hashed name: "style.3f2a1b9c0d4e.css"
	ContentType string
	Hash        string // hex SHA-256 of Body
	Body        []byte
}

type index struct {
	byName   map[string]*File
	byHashed map[string]*File
}

// load builds the index once; the embedded files never change.
var load = sync.OnceValue(func() index {
	idx := index{byName: map[string]*File{}, byHashed: map[string]*File{}}
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		panic(fmt.Sprintf("static: read embedded dir: %v", err)) // cannot happen with go:embed
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		body, err := files.ReadFile(e.Name())
		if err != nil {
			panic(fmt.Sprintf("static: read embedded %s: %v", e.Name(), err))
		}
		sum := sha256.Sum256(body)
		hash := hex.EncodeToString(sum[:])
		ext := path.Ext(e.Name())
		ctype := mime.TypeByExtension(ext)
		if ctype == "" {
			ctype = "application/octet-stream"
		}
		f := &File{
			Name:        e.Name(),
			Hashed:      strings.TrimSuffix(e.Name(), ext) + "." + hash[:12] + ext,
			ContentType: ctype,
			Hash:        hash,
			Body:        body,
		}
		idx.byName[f.Name] = f
		idx.byHashed[f.Hashed] = f
	}
	return idx
})

// Path returns the URL path of the named asset ("/static/style.3f2a1b9c0d4e.css").
// It panics on an unknown name: templates refer to assets by constant names,
// and a typo must fail the first test that renders the page.
func Path(name string) string {
	f, ok := load().byName[name]
	if !ok {
		panic(fmt.Sprintf("static: no asset named %q", name))
	}
	return Prefix + f.Hashed
}

// All returns every asset, sorted by name.
func All() []*File {
	idx := load()
	out := make([]*File, 0, len(idx.byName))
	for _, f := range idx.byName {
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b *File) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Lookup returns the asset with that content-hashed name.
func Lookup(hashed string) (*File, bool) {
	f, ok := load().byHashed[hashed]
	return f, ok
}
