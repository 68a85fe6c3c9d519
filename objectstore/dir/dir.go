package dir

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"iter"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/strata-io/strata/objectstore"
)

const (
	objectsDir = "objects"
	tmpDir     = "tmp"
	lockFile   = "lock"

	// staleTemp is the age after which Open removes a temporary file.
	staleTemp = time.Hour

	dirPerm  = 0o750
	filePerm = 0o640
)

// Bucket is an objectstore.Bucket in a local directory. It holds no open
// files between calls, so it needs no Close.
type Bucket struct {
	root string // absolute path of the bucket directory

	mu sync.Mutex // serializes this process's commits; the flock serializes processes
}

// Open returns the bucket kept in the directory root, creating the directory
// and its layout if they do not exist.
func Open(root string) (*Bucket, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("open dir bucket %s: %w", root, err)
	}
	for _, d := range []string{abs, filepath.Join(abs, objectsDir), filepath.Join(abs, tmpDir)} {
		if err := os.MkdirAll(d, dirPerm); err != nil {
			return nil, fmt.Errorf("open dir bucket %s: %w", abs, err)
		}
	}
	f, err := os.OpenFile(filepath.Join(abs, lockFile), os.O_RDWR|os.O_CREATE, filePerm)
	if err != nil {
		return nil, fmt.Errorf("open dir bucket %s: %w", abs, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("open dir bucket %s: %w", abs, err)
	}
	b := &Bucket{root: abs}
	if err := b.removeStaleTemps(time.Now().Add(-staleTemp)); err != nil {
		return nil, fmt.Errorf("open dir bucket %s: %w", abs, err)
	}
	return b, nil
}

// String names the bucket for logs, as a file URL.
func (b *Bucket) String() string { return "file://" + filepath.ToSlash(b.root) }

// Root returns the bucket's directory.
func (b *Bucket) Root() string { return b.root }

func (b *Bucket) removeStaleTemps(before time.Time) error {
	entries, err := os.ReadDir(filepath.Join(b.root, tmpDir))
	if err != nil {
		return err
	}
	for _, e := range entries {
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return err
		}
		if info.ModTime().Before(before) {
			if err := os.Remove(filepath.Join(b.root, tmpDir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

func etagOf(h hash.Hash) objectstore.ETag {
	return objectstore.ETag(hex.EncodeToString(h.Sum(nil)[:16]))
}

func contentETag(body []byte) objectstore.ETag {
	h := sha256.New()
	h.Write(body)
	return etagOf(h)
}

// objectPath is the path of key's file relative to the root.
func objectPath(key string) string { return objectsDir + "/" + key }

func check(ctx context.Context, op objectstore.Op, key string) error {
	if err := objectstore.ValidateKey(key); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s %q: %w", op, key, err)
	}
	return nil
}

// condition is checked under the commit lock before a write replaces key;
// current is the object's ETag, or "" if there is none.
type condition func(current objectstore.ETag, exists bool) error

// Put implements objectstore.Bucket.
func (b *Bucket) Put(ctx context.Context, key string, body []byte) (objectstore.ETag, error) {
	return b.write(ctx, objectstore.OpPut, key, body, nil)
}

// PutIfAbsent implements objectstore.Bucket.
func (b *Bucket) PutIfAbsent(ctx context.Context, key string, body []byte) (objectstore.ETag, error) {
	return b.write(ctx, objectstore.OpPutIfAbsent, key, body, func(_ objectstore.ETag, exists bool) error {
		if exists {
			return objectstore.ErrPreconditionFailed
		}
		return nil
	})
}

// PutIfMatch implements objectstore.Bucket.
func (b *Bucket) PutIfMatch(ctx context.Context, key string, body []byte, etag objectstore.ETag) (objectstore.ETag, error) {
	return b.write(ctx, objectstore.OpPutIfMatch, key, body, func(current objectstore.ETag, exists bool) error {
		if !exists || current != etag {
			return objectstore.ErrPreconditionFailed
		}
		return nil
	})
}

// write stores body as key: into a temporary file first, then, under the
// commit lock and if cond (when set) allows, renamed into place.
func (b *Bucket) write(ctx context.Context, op objectstore.Op, key string, body []byte, cond condition) (_ objectstore.ETag, err error) {
	if err := check(ctx, op, key); err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%s %q: %w", op, key, err)
		}
	}()
	root, err := os.OpenRoot(b.root)
	if err != nil {
		return "", err
	}
	defer root.Close()

	tmp, etag, err := writeTemp(root, body)
	if err != nil {
		return "", err
	}
	committed := false
	defer func() {
		if !committed {
			_ = root.Remove(tmp) // best effort: Open sweeps what is left
		}
	}()

	unlock, err := b.lock(root)
	if err != nil {
		return "", err
	}
	defer unlock()
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if cond != nil {
		current, exists, err := currentETag(root, objectPath(key))
		if err != nil {
			return "", err
		}
		if err := cond(current, exists); err != nil {
			return "", err
		}
	}
	created, err := mkdirParents(root, key)
	if err != nil {
		return "", err
	}
	if err := renameInto(root, tmp, key); err != nil {
		return "", err
	}
	committed = true
	// The object's directory records the rename; each directory the write
	// created must be recorded in its parent.
	syncs := []string{path.Dir(objectPath(key))}
	for _, d := range created {
		syncs = append(syncs, path.Dir(d))
	}
	for _, d := range slices.Compact(syncs) {
		if err := syncDir(root, d); err != nil {
			return "", err
		}
	}
	return etag, nil
}

// writeTemp writes body, with its ETag attribute, to a new file in tmp/ and
// syncs it. It returns the file's path relative to root.
func writeTemp(root *os.Root, body []byte) (name string, etag objectstore.ETag, err error) {
	var rnd [12]byte
	_, _ = rand.Read(rnd[:]) // never fails
	name = tmpDir + "/" + hex.EncodeToString(rnd[:]) + ".tmp"
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
	if err != nil {
		return "", "", err
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = cerr
		}
		if err != nil {
			_ = root.Remove(name)
		}
	}()
	if _, err := f.Write(body); err != nil {
		return "", "", err
	}
	etag = contentETag(body)
	if err := setETag(f, etag); err != nil {
		return "", "", err
	}
	if err := f.Sync(); err != nil {
		return "", "", err
	}
	return name, etag, nil
}

// lock takes the commit lock: the Bucket's mutex, then the flock.
func (b *Bucket) lock(root *os.Root) (unlock func(), err error) {
	b.mu.Lock()
	f, err := root.OpenFile(lockFile, os.O_RDWR|os.O_CREATE, filePerm)
	if err != nil {
		b.mu.Unlock()
		return nil, err
	}
	if err := flock(f); err != nil {
		f.Close()
		b.mu.Unlock()
		return nil, fmt.Errorf("lock %s: %w", lockFile, err)
	}
	return func() {
		f.Close() // closing the file releases the flock
		b.mu.Unlock()
	}, nil
}

// currentETag returns the ETag of the object file at name, if there is one.
func currentETag(root *os.Root, name string) (objectstore.ETag, bool, error) {
	f, info, err := openObject(root, name)
	if errors.Is(err, objectstore.ErrNotExist) {
		return "", false, nil
	} else if err != nil {
		return "", false, err
	}
	defer f.Close()
	etag, err := fileETag(f, info.Size())
	return etag, err == nil, err
}

// mkdirParents creates the directories of key's path under objects/ that do
// not exist, and returns them (relative to root) in the order created.
func mkdirParents(root *os.Root, key string) (created []string, err error) {
	segs := strings.Split(key, "/")
	d := objectsDir
	for i, seg := range segs[:len(segs)-1] {
		d += "/" + seg
		err := root.Mkdir(d, dirPerm)
		if err == nil {
			created = append(created, d)
			continue
		}
		if !errors.Is(err, fs.ErrExist) {
			return created, mapPathErr(err)
		}
		info, err := root.Lstat(d)
		if err != nil {
			return created, err
		}
		if !info.IsDir() {
			return created, fmt.Errorf("%w: %q is an object, so nothing can be stored under it",
				objectstore.ErrInvalidKey, strings.Join(segs[:i+1], "/"))
		}
	}
	return created, nil
}

// renameInto moves the temporary file tmp to key's path. If an empty
// directory is in the way (left by a Delete that crashed before removing
// it), it is removed; a directory holding objects is not.
func renameInto(root *os.Root, tmp, key string) error {
	dst := objectPath(key)
	err := root.Rename(tmp, dst)
	if err == nil {
		return nil
	}
	info, serr := root.Lstat(dst)
	if serr != nil || !info.IsDir() {
		return mapPathErr(err)
	}
	if empty, eerr := removeEmptyTree(root, dst); eerr != nil {
		return eerr
	} else if !empty {
		return fmt.Errorf("%w: objects exist under %q", objectstore.ErrInvalidKey, key+"/")
	}
	return mapPathErr(root.Rename(tmp, dst))
}

// removeEmptyTree removes the directory d if it, and every directory below
// it, holds no file. It reports whether it did.
func removeEmptyTree(root *os.Root, d string) (bool, error) {
	f, err := root.Open(d)
	if err != nil {
		return false, err
	}
	entries, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		return false, err
	}
	for _, e := range entries {
		if !e.IsDir() {
			return false, nil
		}
		if empty, err := removeEmptyTree(root, d+"/"+e.Name()); err != nil || !empty {
			return false, err
		}
	}
	if err := root.Remove(d); err != nil {
		return false, err
	}
	return true, nil
}

func syncDir(root *os.Root, d string) error {
	f, err := root.Open(d)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// mapPathErr translates the errors a valid key can still cause.
func mapPathErr(err error) error {
	if errors.Is(err, syscall.ENAMETOOLONG) {
		return fmt.Errorf("%w: a segment is too long for the file system: %v", objectstore.ErrInvalidKey, err)
	}
	return err
}

// openObject opens the object file at name (relative to root). A missing
// file, or a path through or to a directory, is ErrNotExist.
func openObject(root *os.Root, name string) (*os.File, os.FileInfo, error) {
	f, err := root.Open(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil, nil, objectstore.ErrNotExist
		}
		return nil, nil, mapPathErr(err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !info.Mode().IsRegular() {
		f.Close()
		return nil, nil, objectstore.ErrNotExist
	}
	return f, info, nil
}

// fileETag returns the ETag of the open object file f of size bytes: the
// stored attribute, or else a hash of the content.
func fileETag(f *os.File, size int64) (objectstore.ETag, error) {
	if etag, ok := getETag(f); ok {
		return etag, nil
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, size)); err != nil {
		return "", err
	}
	return etagOf(h), nil
}

func infoOf(key string, fi os.FileInfo, etag objectstore.ETag) objectstore.Info {
	return objectstore.Info{Key: key, Size: fi.Size(), ETag: etag, LastModified: fi.ModTime().UTC()}
}

// read opens key's object and calls f with it.
func (b *Bucket) read(ctx context.Context, op objectstore.Op, key string, f func(*os.File, os.FileInfo) error) (err error) {
	if err := check(ctx, op, key); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%s %q: %w", op, key, err)
		}
	}()
	root, err := os.OpenRoot(b.root)
	if err != nil {
		return err
	}
	defer root.Close()
	file, info, err := openObject(root, objectPath(key))
	if err != nil {
		return err
	}
	defer file.Close()
	return f(file, info)
}

// Get implements objectstore.Bucket.
func (b *Bucket) Get(ctx context.Context, key string) (body []byte, info objectstore.Info, err error) {
	err = b.read(ctx, objectstore.OpGet, key, func(f *os.File, fi os.FileInfo) error {
		body = make([]byte, fi.Size())
		if _, err := io.ReadFull(f, body); err != nil {
			return err
		}
		etag, ok := getETag(f)
		if !ok {
			etag = contentETag(body)
		}
		info = infoOf(key, fi, etag)
		return nil
	})
	if err != nil {
		return nil, objectstore.Info{}, err
	}
	return body, info, nil
}

// GetRange implements objectstore.Bucket.
func (b *Bucket) GetRange(ctx context.Context, key string, off, n int64) (body []byte, err error) {
	err = b.read(ctx, objectstore.OpGetRange, key, func(f *os.File, fi os.FileInfo) error {
		end, err := objectstore.ValidateRange(off, n, fi.Size())
		if err != nil {
			return err
		}
		body = make([]byte, end-off)
		_, err = f.ReadAt(body, off)
		return err
	})
	if err != nil {
		return nil, err
	}
	return body, nil
}

// Head implements objectstore.Bucket.
func (b *Bucket) Head(ctx context.Context, key string) (info objectstore.Info, err error) {
	err = b.read(ctx, objectstore.OpHead, key, func(f *os.File, fi os.FileInfo) error {
		etag, err := fileETag(f, fi.Size())
		info = infoOf(key, fi, etag)
		return err
	})
	if err != nil {
		return objectstore.Info{}, err
	}
	return info, nil
}

// Delete implements objectstore.Bucket. It removes the directories the
// deletion leaves empty.
func (b *Bucket) Delete(ctx context.Context, key string) (err error) {
	if err := check(ctx, objectstore.OpDelete, key); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("delete %q: %w", key, err)
		}
	}()
	root, err := os.OpenRoot(b.root)
	if err != nil {
		return err
	}
	defer root.Close()
	unlock, err := b.lock(root)
	if err != nil {
		return err
	}
	defer unlock()

	name := objectPath(key)
	info, err := root.Lstat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		return nil
	case err != nil:
		return mapPathErr(err)
	case !info.Mode().IsRegular():
		return nil // a directory of other objects, not an object
	}
	if err := root.Remove(name); err != nil {
		return err
	}
	// Remove the directories left empty, deepest first, then record the
	// last removal (or the file's) in the directory that stays.
	d := path.Dir(name)
	for d != objectsDir {
		if err := root.Remove(d); err != nil {
			break // not empty (or gone): it stays
		}
		d = path.Dir(d)
	}
	return syncDir(root, d)
}

// List implements objectstore.Bucket. It walks the directories under the
// prefix in key order (an entry named n sorts as n for a file and as n+"/"
// for a directory), so it yields keys as it goes, without collecting them.
func (b *Bucket) List(ctx context.Context, prefix string) iter.Seq2[objectstore.Info, error] {
	if err := objectstore.ValidatePrefix(prefix); err != nil {
		return objectstore.ErrorSeq(fmt.Errorf("list: %w", err))
	}
	return func(yield func(objectstore.Info, error) bool) {
		if err := ctx.Err(); err != nil {
			yield(objectstore.Info{}, fmt.Errorf("list %q: %w", prefix, err))
			return
		}
		root, err := os.OpenRoot(b.root)
		if err != nil {
			yield(objectstore.Info{}, fmt.Errorf("list %q: %w", prefix, err))
			return
		}
		defer root.Close()
		// The directory part of the prefix names the one directory to walk;
		// the rest filters its entries.
		dirPart, rest := "", prefix
		if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
			dirPart, rest = prefix[:i], prefix[i+1:]
			for seg := range strings.SplitSeq(dirPart, "/") {
				if seg == "" || seg == "." || seg == ".." {
					return // no valid key has this prefix
				}
			}
		}
		w := walker{ctx: ctx, root: root, yield: yield}
		if _, err := w.walk(dirPart, rest); err != nil {
			yield(objectstore.Info{}, fmt.Errorf("list %q: %w", prefix, err))
		}
	}
}

type walker struct {
	ctx   context.Context
	root  *os.Root
	yield func(objectstore.Info, error) bool
}

// walk yields every object under the key directory keyDir (relative to
// objects/, "" for the top) whose name starts with namePrefix, in key
// order. It returns false when the caller stopped the iteration.
func (w *walker) walk(keyDir, namePrefix string) (bool, error) {
	d := objectsDir
	if keyDir != "" {
		d += "/" + keyDir
	}
	f, err := w.root.Open(d)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return true, nil
	} else if err != nil {
		return false, mapPathErr(err)
	}
	entries, err := f.ReadDir(-1)
	f.Close()
	if errors.Is(err, syscall.ENOTDIR) {
		return true, nil // the prefix's directory part is an object
	} else if err != nil {
		return false, err
	}
	type entry struct {
		name  string
		sort  string
		isDir bool
	}
	list := make([]entry, 0, len(entries))
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, namePrefix) {
			continue
		}
		switch {
		case e.IsDir():
			list = append(list, entry{name, name + "/", true})
		case e.Type().IsRegular():
			list = append(list, entry{name, name, false})
		}
	}
	slices.SortFunc(list, func(a, b entry) int { return strings.Compare(a.sort, b.sort) })
	for _, e := range list {
		if err := w.ctx.Err(); err != nil {
			return false, err
		}
		key := e.name
		if keyDir != "" {
			key = keyDir + "/" + e.name
		}
		if e.isDir {
			if more, err := w.walk(key, ""); err != nil || !more {
				return more, err
			}
			continue
		}
		info, ok, err := w.stat(key)
		if err != nil {
			return false, err
		}
		if ok && !w.yield(info, nil) {
			return false, nil
		}
	}
	return true, nil
}

// stat returns the Info of key's object; ok is false if it has gone since
// the directory was read.
func (w *walker) stat(key string) (info objectstore.Info, ok bool, err error) {
	f, fi, err := openObject(w.root, objectPath(key))
	if errors.Is(err, objectstore.ErrNotExist) {
		return objectstore.Info{}, false, nil
	} else if err != nil {
		return objectstore.Info{}, false, err
	}
	defer f.Close()
	etag, err := fileETag(f, fi.Size())
	if err != nil {
		return objectstore.Info{}, false, err
	}
	return infoOf(key, fi, etag), true, nil
}
