package fsbackend_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/objstore/objstore/internal/backend"
	"github.com/objstore/objstore/internal/backend/backendtest"
	"github.com/objstore/objstore/internal/backend/fsbackend"
	"github.com/objstore/objstore/internal/core"
)

const bucket = "test-bucket"

func newBackend(t *testing.T, root string) *fsbackend.Backend {
	t.Helper()
	b, err := fsbackend.New(root)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return b
}

func TestSuite(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) (backend.Backend, string) {
		b := newBackend(t, t.TempDir())
		if err := b.CreateBucket(t.Context(), bucket); err != nil {
			t.Fatalf("CreateBucket: %v", err)
		}
		return b, bucket
	})
}

// TestKeysStayInsideRoot puts keys that would escape the root if they
// became paths, and checks that every file lies under <root>/<bucket>.
func TestKeysStayInsideRoot(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "root")
	b := newBackend(t, root)
	keys := []string{"../escaped", "../../escaped", "/etc/escaped", "a/../../../escaped", "..", "."}
	for _, k := range keys {
		if _, err := b.Put(t.Context(), bucket, k, strings.NewReader("x"), 1, core.Info{}); err != nil {
			t.Fatalf("Put(%q): %v", k, err)
		}
	}
	entries, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "root" {
		t.Errorf("parent of root holds %v, want only root", entries)
	}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if rel != "." && rel != bucket && !strings.HasPrefix(rel, bucket+string(filepath.Separator)) {
			t.Errorf("file %s is outside the bucket directory", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestBodyWithoutMetaIsNotFound simulates a crash between the body's and
// the sidecar's rename: the body alone must not be visible.
func TestBodyWithoutMetaIsNotFound(t *testing.T) {
	root := t.TempDir()
	b := newBackend(t, root)
	if _, err := b.Put(t.Context(), bucket, "k", strings.NewReader("body"), 4, core.Info{}); err != nil {
		t.Fatal(err)
	}
	metas, err := filepath.Glob(filepath.Join(root, bucket, "*", "*.json"))
	if err != nil || len(metas) != 1 {
		t.Fatalf("sidecars = %v, %v; want one", metas, err)
	}
	if err := os.Remove(metas[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Head(t.Context(), bucket, "k"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Head = %v, want core.ErrNotFound", err)
	}
	if _, err := b.Get(t.Context(), bucket, "k", backend.GetOptions{}); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Get = %v, want core.ErrNotFound", err)
	}
}

// TestOverwriteRemovesOldBody checks that an overwrite leaves one body per
// key, and that a crash orphan does not shadow the committed version.
func TestOverwriteRemovesOldBody(t *testing.T) {
	root := t.TempDir()
	b := newBackend(t, root)
	for _, v := range []string{"one", "two", "three", "three"} {
		if _, err := b.Put(t.Context(), bucket, "k", strings.NewReader(v), int64(len(v)), core.Info{}); err != nil {
			t.Fatal(err)
		}
	}
	files, err := filepath.Glob(filepath.Join(root, bucket, "*", "*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 {
		t.Errorf("files = %v, want one sidecar and one body", files)
	}
	if err := b.Delete(t.Context(), bucket, "k"); err != nil {
		t.Fatal(err)
	}
	files, _ = filepath.Glob(filepath.Join(root, bucket, "*", "*"))
	if len(files) != 0 {
		t.Errorf("files after Delete = %v, want none", files)
	}
}

// TestMissingBodyIsBackendError: a sidecar whose body is gone was tampered
// with; that is a failure of the store, not a missing object.
func TestMissingBodyIsBackendError(t *testing.T) {
	root := t.TempDir()
	b := newBackend(t, root)
	if _, err := b.Put(t.Context(), bucket, "k", strings.NewReader("body"), 4, core.Info{}); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(root, bucket, "*", "*"))
	for _, f := range files {
		if !strings.HasSuffix(f, ".json") {
			if err := os.Remove(f); err != nil {
				t.Fatal(err)
			}
		}
	}
	var be *core.BackendError
	if _, err := b.Head(t.Context(), bucket, "k"); !errors.As(err, &be) {
		t.Errorf("Head = %v, want a *core.BackendError", err)
	}
	if _, err := b.Get(t.Context(), bucket, "k", backend.GetOptions{}); !errors.As(err, &be) {
		t.Errorf("Get = %v, want a *core.BackendError", err)
	}
}

func TestNewRemovesTemporaryFiles(t *testing.T) {
	root := t.TempDir()
	b := newBackend(t, root)
	if _, err := b.Put(t.Context(), bucket, "k", strings.NewReader("body"), 4, core.Info{}); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(root, bucket, ".tmp-123")
	if err := os.WriteFile(stale, []byte("half written"), 0o600); err != nil {
		t.Fatal(err)
	}
	b = newBackend(t, root)
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale temporary file still there: %v", err)
	}
	obj, err := b.Get(t.Context(), bucket, "k", backend.GetOptions{})
	if err != nil {
		t.Fatalf("Get after reopen: %v", err)
	}
	defer obj.Body.Close()
	if body, _ := io.ReadAll(obj.Body); !bytes.Equal(body, []byte("body")) {
		t.Errorf("body = %q", body)
	}
}

// TestFailedPutLeavesNoTemporaryFiles covers the error path of Put.
func TestFailedPutLeavesNoTemporaryFiles(t *testing.T) {
	root := t.TempDir()
	b := newBackend(t, root)
	_, err := b.Put(t.Context(), bucket, "k", strings.NewReader("short"), 100, core.Info{})
	if !errors.Is(err, core.ErrIncompleteBody) {
		t.Fatalf("Put = %v, want core.ErrIncompleteBody", err)
	}
	temps, _ := filepath.Glob(filepath.Join(root, bucket, ".tmp-*"))
	if len(temps) != 0 {
		t.Errorf("temporary files left: %v", temps)
	}
}

func TestNewRejectsEmptyRoot(t *testing.T) {
	if _, err := fsbackend.New(""); !errors.Is(err, core.ErrInvalidArgument) {
		t.Errorf("New(\"\") = %v, want core.ErrInvalidArgument", err)
	}
}

// TestBucketsOnDisk: Put makes its bucket; directories that are not
// buckets are left out; a bucket without a marker is dated by its
// directory.
func TestBucketsOnDisk(t *testing.T) {
	root := t.TempDir()
	b := newBackend(t, root)
	ctx := t.Context()
	if _, err := b.Put(ctx, "made-by-put", "k", strings.NewReader("x"), 1, core.Info{}); err != nil {
		t.Fatal(err)
	}
	if err := b.HeadBucket(ctx, "made-by-put"); err != nil {
		t.Errorf("HeadBucket of a bucket made by Put: %v", err)
	}
	for _, dir := range []string{"Not_A_Bucket", "lost+found", "no-marker"} {
		if err := os.Mkdir(filepath.Join(root, dir), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "a-file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(root, "no-marker"), old, old); err != nil {
		t.Fatal(err)
	}
	buckets, err := b.Buckets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, bi := range buckets {
		names = append(names, bi.Name)
	}
	if want := []string{"made-by-put", "no-marker"}; !slices.Equal(names, want) {
		t.Fatalf("Buckets = %q, want %q", names, want)
	}
	if c := buckets[0].Created; time.Since(c) > time.Minute {
		t.Errorf("made-by-put Created = %v, want about now", c)
	}
	if c := buckets[1].Created; !c.Equal(old) {
		t.Errorf("no-marker Created = %v, want its directory's %v", c, old)
	}
	if err := b.CreateBucket(ctx, "no-marker"); !errors.Is(err, backend.ErrBucketExists) {
		t.Errorf("CreateBucket of an existing directory = %v, want backend.ErrBucketExists", err)
	}
}

// TestDeleteBucketDuringPuts races DeleteBucket with Puts that empty the
// bucket again after each object: a Put must never fail or lose its
// object because the bucket went away under it.
func TestDeleteBucketDuringPuts(t *testing.T) {
	b := newBackend(t, t.TempDir())
	ctx := t.Context()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(done)
		for i := range 50 {
			key := fmt.Sprintf("k%d", i)
			if _, err := b.Put(ctx, bucket, key, strings.NewReader("v"), 1, core.Info{}); err != nil {
				t.Errorf("Put(%q): %v", key, err)
				return
			}
			if _, err := b.Head(ctx, bucket, key); err != nil {
				t.Errorf("Head(%q) right after Put: %v", key, err)
				return
			}
			if err := b.Delete(ctx, bucket, key); err != nil {
				t.Errorf("Delete(%q): %v", key, err)
				return
			}
		}
	})
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			err := b.DeleteBucket(ctx, bucket)
			if err != nil && !errors.Is(err, backend.ErrBucketNotEmpty) && !errors.Is(err, core.ErrNotFound) {
				t.Errorf("DeleteBucket: %v", err)
				return
			}
		}
	})
	wg.Wait()
}

// TestListCorruptSidecar: a sidecar that cannot be read fails the
// listing as a store failure rather than hiding the object.
func TestListCorruptSidecar(t *testing.T) {
	root := t.TempDir()
	b := newBackend(t, root)
	if _, err := b.Put(t.Context(), bucket, "k", strings.NewReader("v"), 1, core.Info{}); err != nil {
		t.Fatal(err)
	}
	metas, err := filepath.Glob(filepath.Join(root, bucket, "*", "*.json"))
	if err != nil || len(metas) != 1 {
		t.Fatalf("sidecars = %v, %v; want one", metas, err)
	}
	if err := os.WriteFile(metas[0], []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	var be *core.BackendError
	if _, err := b.List(t.Context(), bucket, backend.ListOptions{}); !errors.As(err, &be) {
		t.Errorf("List = %v, want a *core.BackendError", err)
	}
}
