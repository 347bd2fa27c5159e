// Package static holds the files the browser loads besides the pages: the vendored
// htmx and its SSE extension, the style sheet and the icon. They are embedded in the binary.
package static

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
)

// Files are the embedded static files, served under /static/.
//
//go:embed *.js *.css *.svg
var Files embed.FS

// versions maps a file name to a short hash of its content, for cache busting.
var versions = func() map[string]string {
	v := make(map[string]string)
	names, _ := fs.Glob(Files, "*")
	for _, name := range names {
		content, err := Files.ReadFile(name)
		if err != nil {
			panic("static: read embedded " + name + ": " + err.Error())
		}
		sum := sha256.Sum256(content)
		v[name] = hex.EncodeToString(sum[:6])
	}
	return v
}()

// Path returns the URL of an embedded file with its content hash in the query, so it
// can be cached for a year and still change with each release.
func Path(name string) string {
	v, ok := versions[name]
	if !ok {
		panic("static: no embedded file " + name)
	}
	return "/static/" + name + "?v=" + v
}

// Version returns the content hash of an embedded file, or "" if there is none.
func Version(name string) string {
	return versions[name]
}
