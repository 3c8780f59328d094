"""Camera-sized frames rendered from Fashion-MNIST: the one definition shared with C#.

The C# twin is engine/Coach.Engine/Data/FrameRenderer.cs; both must produce the same uint8 frame
bit for bit, so everything here is integer arithmetic on uint32 (wrapping) values -- no floating
point, no library random generator.

Definition (x, y in 0..111, c in 0..2, all arithmetic modulo 2**32):

    fmix32(h)        = murmur3 finaliser: h ^= h>>16; h *= 0x85EBCA6B; h ^= h>>13; h *= 0xC2B2AE35; h ^= h>>16
    mix(s, a, b, k)  = h = fmix32((k * 0x9E3779B1) ^ s); h = fmix32(h ^ (a * 0x85EBCA77));
                       h = fmix32(h ^ (b * 0xC2B2AE3D + 0x27D4EB2F)); return h
    sample seed s    = h = 0x811C9DC5; for each little-endian uint32 word w of the 784 source bytes:
                       h = fmix32(h ^ w); return h            (depends on the pixels only, never the label)
    object colour    fg[c]   = 96 + mix(s, c, 0, SALT_OBJECT) % 160
    background base  base[c] = 16 + mix(s, c, 0, SALT_BASE) % 48
    low-frequency    corner grid g[c][j][i] = mix(s, i, j, SALT_GRID + c) % 64, i, j in 0..7 (16-px cells),
    pattern          v[c](x, y) = bilinear in integers: (g00*(16-fx)*(16-fy) + g10*fx*(16-fy)
                                   + g01*(16-fx)*fy + g11*fx*fy) >> 8, with fx = x & 15, i = x >> 4 (same for y)
    fine texture     t(x, y) = mix(s, x, y, SALT_TEXTURE) % 16
    background       bg[c] = base[c] + v[c] + t
    object coverage  a(x, y) = source[(y - dy) >> 2][(x - dx) >> 2] if 0 <= x - dx, y - dy < 112 else 0
                     (4x nearest-neighbour upscale; the object moves by the jitter shift, the background stays)
    composite        p = (fg[c] * a + bg[c] * (255 - a) + 127) // 255
    jitter noise     if amplitude > 0: p = clamp(p + mix(noise_seed, x, y, SALT_NOISE + c) % (2A+1) - A, 0, 255)

The model input is p / 255 as float32 in [0, 1], layout [3, 112, 112] (RGB planes).
"""

import gzip
import struct

import numpy as np

SIZE = 112
SCALE = 4
SOURCE = 28
CHANNELS = 3

SALT_OBJECT = 1
SALT_BASE = 2
SALT_GRID = 16       # + channel
SALT_TEXTURE = 32
SALT_NOISE = 48      # + channel

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

U32 = np.uint32


@np.errstate(over="ignore")
def fmix32(h):
    h = np.array(h, dtype=U32, ndmin=1)
    h ^= h >> U32(16)
    h *= U32(0x85EBCA6B)
    h ^= h >> U32(13)
    h *= U32(0xC2B2AE35)
    h ^= h >> U32(16)
    return h


@np.errstate(over="ignore")
def mix(s, a, b, salt):
    """Integer hash of (seed, a, b, salt); arguments broadcast as uint32 arrays."""
    s = np.asarray(s, dtype=U32)
    a = np.asarray(a, dtype=U32)
    b = np.asarray(b, dtype=U32)
    h = fmix32((np.array([salt], dtype=U32) * U32(0x9E3779B1)) ^ s)
    h = fmix32(h ^ (a * U32(0x85EBCA77)))
    h = fmix32(h ^ (b * U32(0xC2B2AE3D) + U32(0x27D4EB2F)))
    return h


def sample_seeds(images):
    """Seeds of a batch of 28x28 uint8 sources [B, 28, 28] -> uint32 [B]."""
    images = np.ascontiguousarray(images, dtype=np.uint8).reshape(len(images), SOURCE * SOURCE)
    words = images.view("<u4").astype(U32)  # 196 little-endian words per sample
    h = np.full(len(images), 0x811C9DC5, dtype=U32)
    for k in range(words.shape[1]):
        h = fmix32(h ^ words[:, k])
    return h


_X = np.arange(SIZE, dtype=U32)


def render(images, dx=None, dy=None, noise_seed=None, noise_amplitude=0):
    """Render [B, 28, 28] uint8 sources into [B, 3, 112, 112] uint8 frames.

    dx, dy: per-sample integer object shifts (default 0); noise_seed: per-sample uint32 seeds of the
    jitter noise, used when noise_amplitude > 0.
    """
    images = np.asarray(images, dtype=np.uint8)
    b = len(images)
    seeds = sample_seeds(images)
    dx = np.zeros(b, dtype=np.int64) if dx is None else np.asarray(dx, dtype=np.int64)
    dy = np.zeros(b, dtype=np.int64) if dy is None else np.asarray(dy, dtype=np.int64)
    s = seeds[:, None, None]

    # fine texture t(x, y), shared by the three channels: [B, y, x]
    texture = (mix(s, _X[None, None, :], _X[None, :, None], SALT_TEXTURE) % U32(16)).astype(np.int64)

    # object coverage with the jitter shift: [B, y, x]
    xs = np.arange(SIZE, dtype=np.int64)[None, :] - dx[:, None]          # [B, x]
    ys = np.arange(SIZE, dtype=np.int64)[None, :] - dy[:, None]          # [B, y]
    valid_x = (xs >= 0) & (xs < SIZE)
    valid_y = (ys >= 0) & (ys < SIZE)
    src_x = np.clip(xs, 0, SIZE - 1) >> 2
    src_y = np.clip(ys, 0, SIZE - 1) >> 2
    bi = np.arange(b)[:, None, None]
    coverage = images[bi, src_y[:, :, None], src_x[:, None, :]].astype(np.int64)
    coverage *= (valid_y[:, :, None] & valid_x[:, None, :])

    fx = (np.arange(SIZE) & 15).astype(np.int64)
    cell = np.arange(SIZE) >> 4
    grid_i = np.arange(8, dtype=U32)
    out = np.empty((b, CHANNELS, SIZE, SIZE), dtype=np.uint8)
    for c in range(CHANNELS):
        fg = (96 + mix(seeds, c, 0, SALT_OBJECT) % U32(160)).astype(np.int64)[:, None, None]
        base = (16 + mix(seeds, c, 0, SALT_BASE) % U32(48)).astype(np.int64)[:, None, None]
        g = (mix(s, grid_i[None, None, :], grid_i[None, :, None], SALT_GRID + c) % U32(64)).astype(np.int64)  # [B, j, i]
        g00 = g[:, cell][:, :, cell]            # [B, y, x] corner (i, j)
        g10 = g[:, cell][:, :, cell + 1]        # (i+1, j)
        g01 = g[:, cell + 1][:, :, cell]        # (i, j+1)
        g11 = g[:, cell + 1][:, :, cell + 1]    # (i+1, j+1)
        wx = fx[None, None, :]
        wy = fx[None, :, None]
        v = (g00 * (16 - wx) * (16 - wy) + g10 * wx * (16 - wy)
             + g01 * (16 - wx) * wy + g11 * wx * wy) >> 8
        bg = base + v + texture
        p = (fg * coverage + bg * (255 - coverage) + 127) // 255
        if noise_amplitude > 0:
            ns = np.asarray(noise_seed, dtype=U32)[:, None, None]
            n = (mix(ns, _X[None, None, :], _X[None, :, None], SALT_NOISE + c)
                 % U32(2 * noise_amplitude + 1)).astype(np.int64) - noise_amplitude
            p = np.clip(p + n, 0, 255)
        out[:, c] = p.astype(np.uint8)
    return out


def render_all(images, chunk=500):
    out = np.empty((len(images), CHANNELS, SIZE, SIZE), dtype=np.uint8)
    for start in range(0, len(images), chunk):
        out[start:start + chunk] = render(images[start:start + chunk])
    return out


def read_idx(path):
    """Read a gzip IDX file (ubyte) into a numpy array."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path}: not a ubyte IDX file (magic {data[:4].hex()})")
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    expected = int(np.prod(dims))
    if body.size != expected:
        raise ValueError(f"{path}: expected {expected} bytes of data, found {body.size}")
    return body.reshape(dims)


def write_idx(path, array):
    """Write a uint8 array as a gzip IDX file (mtime 0, so the bytes are reproducible)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(">" + "I" * array.ndim, *array.shape)
    with open(path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as f:
            f.write(header + array.tobytes())


def load_split(split):
    """split: 'train' or 't10k' -> (images [N, 28, 28] uint8, labels [N] uint8)."""
    images = read_idx(f"{FASHION_MNIST_DIR}/{split}-images-idx3-ubyte.gz")
    labels = read_idx(f"{FASHION_MNIST_DIR}/{split}-labels-idx1-ubyte.gz")
    return images, labels
