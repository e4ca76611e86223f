package compat

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/oklog/ulid/v2"

	"github.com/objstore/objstore/internal/api/objhttp"
	"github.com/objstore/objstore/internal/core"
	"github.com/objstore/objstore/internal/node"
)

// meta is the JSON of GET /api/v1/meta, as the original's, plus etag and
// content_type.
type meta struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Size        int64             `json:"size"`
	Timestamp   int64             `json:"timestamp"` // unix nanoseconds
	UserMeta    map[string]string `json:"user_meta"`
	Consistency core.Level        `json:"consistency"`
	IsSymlink   bool              `json:"is_symlink"`
	IsDeleted   bool              `json:"is_deleted"`
	IsFetched   bool              `json:"is_fetched"`
	ETag        string            `json:"etag,omitempty"`
	ContentType string            `json:"content_type,omitempty"`
}

func metaOf(info core.Info, src node.Source) meta {
	um := info.UserMeta
	if um == nil {
		um = map[string]string{}
	}
	return meta{
		ID: info.Key, Name: info.Name, Size: info.Size, Timestamp: info.ModTime.UnixNano(),
		UserMeta: um, Consistency: info.Level,
		IsSymlink: src == node.FromPeer, IsFetched: src == node.FromBackend,
		ETag: info.ETag, ContentType: info.ContentType,
	}
}

func (a *API) id(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, err := io.WriteString(w, ulid.Make().String())
	return err
}

func (a *API) version(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, err := io.WriteString(w, a.cfg.Version)
	return err
}

func (a *API) ping(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, err := io.WriteString(w, a.cfg.Node.ID())
	return err
}

func (a *API) stats(w http.ResponseWriter, r *http.Request) error {
	v, err := a.cfg.Stats()
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func (a *API) nodes(w http.ResponseWriter, r *http.Request) error {
	v, err := a.cfg.Nodes()
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func (a *API) put(w http.ResponseWriter, r *http.Request) error {
	info := core.Info{
		Bucket: a.cfg.Bucket,
		Key:    r.Header.Get("X-Meta-ID"),
		Name:   r.Header.Get("X-Meta-Name"),
		Level:  core.LevelBackend,
	}
	if info.Key == "" {
		return fmt.Errorf("%w: the X-Meta-ID header is required", core.ErrInvalidArgument)
	}
	if v := r.Header.Get("X-Meta-ConsistencyLevel"); v != "" {
		l, err := core.ParseLevel(strings.TrimSpace(v))
		if err != nil {
			return err
		}
		info.Level = l
	}
	if v := r.Header.Get("X-Meta-UserMeta"); v != "" {
		if err := json.Unmarshal([]byte(v), &info.UserMeta); err != nil {
			return fmt.Errorf("%w: X-Meta-UserMeta must be a JSON object of strings: %v", core.ErrInvalidArgument, err)
		}
	}
	ct := r.Header.Get("Content-Type")
	if strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		ct = "" // what curl -d sends by default; never an object's own type
	}
	info.ContentType = contentType(info.Name, ct)
	stored, err := a.cfg.Node.Put(r.Context(), info, r.Body, r.ContentLength)
	if err != nil {
		return err
	}
	setMetaHeaders(w.Header(), stored, node.FromLocal)
	return writeJSON(w, http.StatusOK, metaOf(stored, node.FromLocal))
}

func (a *API) get(w http.ResponseWriter, r *http.Request) error {
	key, err := keyOf(r)
	if err != nil {
		return err
	}
	obj, err := a.cfg.Node.Get(r.Context(), a.cfg.Bucket, key, readOptions(r))
	if err != nil {
		return err
	}
	defer obj.Close()
	h := w.Header()
	setMetaHeaders(h, obj.Info, obj.Source)
	// Canonical keys assigned directly: this is the hot path of hits.
	h["X-Objstore-Cache"] = []string{obj.CacheStatus()}
	h["Content-Type"] = []string{contentType(obj.Name, obj.ContentType)}
	for k, v := range obj.Header {
		h.Set(k, v)
	}
	n, err := objhttp.Serve(w, r, objhttp.Object{ETag: obj.ETag, ModTime: obj.ModTime, Size: obj.Size, Content: obj.Content}, nil)
	a.cfg.Node.AddServed(obj.Source, n)
	if err != nil && !errors.Is(err, objhttp.ErrPreconditionFailed) && !errors.Is(err, objhttp.ErrRangeNotSatisfiable) {
		// The status is sent: all that is left is to cut the response short.
		a.log.Warn("body cut short", "key", key, "err", err)
		return nil
	}
	return err
}

func (a *API) meta(w http.ResponseWriter, r *http.Request) error {
	key, err := keyOf(r)
	if err != nil {
		return err
	}
	info, src, err := a.cfg.Node.Stat(r.Context(), a.cfg.Bucket, key, readOptions(r))
	if errors.Is(err, core.ErrDeleted) {
		w.Header().Set("X-Meta-Deleted", "true")
		m := metaOf(core.Info{Key: key}, node.FromLocal)
		m.IsDeleted = true
		return writeJSON(w, http.StatusNotFound, m)
	}
	if err != nil {
		return err
	}
	setMetaHeaders(w.Header(), info, src)
	return writeJSON(w, http.StatusOK, metaOf(info, src))
}

func (a *API) delete(w http.ResponseWriter, r *http.Request) error {
	key, err := keyOf(r)
	if err != nil {
		return err
	}
	if err := a.cfg.Node.Delete(r.Context(), a.cfg.Bucket, key); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// readOptions maps the request's headers to node read options:
// X-Meta-Fetch: 1|true reads an unknown ID through from the backend, and
// Cache-Control: no-cache revalidates a cached copy.
func readOptions(r *http.Request) node.GetOptions {
	f := strings.ToLower(objhttp.Field(r.Header, "X-Meta-Fetch"))
	return node.GetOptions{
		ReadThrough: f == "1" || f == "true",
		Revalidate:  objhttp.NoCache(r.Header),
	}
}

func setMetaHeaders(h http.Header, info core.Info, src node.Source) {
	h["X-Meta-Id"] = []string{info.Key}
	if info.Name != "" {
		h.Set("X-Meta-Name", info.Name)
	}
	h["X-Meta-Consistencylevel"] = []string{strconv.Itoa(int(info.Level))}
	if len(info.UserMeta) > 0 {
		b, _ := json.Marshal(info.UserMeta)
		h.Set("X-Meta-UserMeta", string(b))
	}
	switch src {
	case node.FromPeer:
		h.Set("X-Meta-Symlink", "true")
	case node.FromBackend:
		h.Set("X-Meta-Fetched", "true")
	}
}

// contentType is the type the name's extension gives, else fallback, else
// application/octet-stream.
func contentType(name, fallback string) string {
	if ext := path.Ext(name); ext != "" {
		if t := mime.TypeByExtension(ext); t != "" {
			return t
		}
	}
	if fallback != "" {
		return fallback
	}
	return "application/octet-stream"
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, err = w.Write(append(b, '\n'))
	return err
}
