using System.Security.Cryptography;
using System.Text;

namespace Coach.Transport.Security;

/// <summary>
/// The secret one edge shares with the cloud: 32 or more random bytes, read from a key file (hex or
/// base64, surrounding whitespace ignored). Never taken from the command line, where any local
/// user can read it in the process list.
/// </summary>
public sealed class PreSharedKey
{
    public const int MinimumLength = 32;

    private readonly byte[] _bytes;

    public PreSharedKey(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < MinimumLength)
        {
            throw new ArgumentException($"a pre-shared key needs at least {MinimumLength} random bytes, got {bytes.Length}; generate one with `head -c 32 /dev/urandom | xxd -p -c 64`", nameof(bytes));
        }

        _bytes = bytes.ToArray();
    }

    internal ReadOnlySpan<byte> Bytes => _bytes;

    /// <summary>A fresh random key (tests, key generation).</summary>
    public static PreSharedKey Generate() => new(RandomNumberGenerator.GetBytes(MinimumLength));

    /// <summary>The key as the hex text a key file holds.</summary>
    public string ToHex() => Convert.ToHexStringLower(_bytes);

    /// <summary>
    /// Reads a key file. <paramref name="warn"/> is told when the file is readable by group or
    /// others (the key should be private to the service's user: <c>chmod 600</c>).
    /// </summary>
    public static PreSharedKey Load(string path, Action<string>? warn = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = Path.GetFullPath(path);
        if (!File.Exists(full))
        {
            throw new FileNotFoundException($"key file {full} does not exist; write 32+ random bytes as hex into it (chmod 600)", full);
        }

        if (!OperatingSystem.IsWindows())
        {
            UnixFileMode mode = File.GetUnixFileMode(full);
            const UnixFileMode Shared = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite;
            if ((mode & Shared) != 0)
            {
                warn?.Invoke($"WARNING: key file {full} is readable or writable by group/others (mode {Convert.ToString((int)mode, 8)}); run `chmod 600 {full}`");
            }
        }

        string text = Encoding.UTF8.GetString(File.ReadAllBytes(full)).Trim();
        return new PreSharedKey(Parse(text, full));
    }

    private static byte[] Parse(string text, string path)
    {
        if (text.Length > 0 && text.Length % 2 == 0 && text.AsSpan().IndexOfAnyExcept("0123456789abcdefABCDEF") < 0)
        {
            return Convert.FromHexString(text);
        }

        byte[] buffer = new byte[text.Length];
        if (Convert.TryFromBase64String(text, buffer, out int written))
        {
            return buffer[..written];
        }

        throw new InvalidDataException($"key file {path} holds neither hex nor base64; write 32+ random bytes as hex (e.g. `head -c 32 /dev/urandom | xxd -p -c 64 > {path}`)");
    }
}

/// <summary>
/// The cloud's keys: a directory of <c>&lt;client-id&gt;.key</c> files (one key per edge), or a
/// single key file shared by every edge.
/// </summary>
public sealed class EdgeKeyStore
{
    private readonly Dictionary<string, PreSharedKey> _byClient;
    private readonly PreSharedKey? _shared;
    // Secret of this process only: decoy keys cannot be predicted from outside, and stay the same
    // for one client id while the process runs, so repeated attempts look like one real key.
    private readonly byte[] _decoySecret = RandomNumberGenerator.GetBytes(PreSharedKey.MinimumLength);

    private EdgeKeyStore(Dictionary<string, PreSharedKey> byClient, PreSharedKey? shared)
    {
        _byClient = byClient;
        _shared = shared;
    }

    public int Count => _byClient.Count + (_shared is null ? 0 : 1);

    public string Describe => _shared is not null ? "one key shared by every edge" : $"{_byClient.Count} edge key(s): {string.Join(", ", _byClient.Keys.Order(StringComparer.Ordinal))}";

    /// <summary>One key for every client id.</summary>
    public static EdgeKeyStore Shared(PreSharedKey key) => new(new Dictionary<string, PreSharedKey>(StringComparer.Ordinal), key ?? throw new ArgumentNullException(nameof(key)));

    /// <summary>Explicit client id → key pairs.</summary>
    public static EdgeKeyStore Of(IEnumerable<KeyValuePair<string, PreSharedKey>> keys) => new(new Dictionary<string, PreSharedKey>(keys, StringComparer.Ordinal), null);

    /// <summary>Loads <paramref name="path"/>: a directory of <c>*.key</c> files or one key file.</summary>
    public static EdgeKeyStore Load(string path, Action<string>? warn = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (File.Exists(path))
        {
            return Shared(PreSharedKey.Load(path, warn));
        }

        if (!Directory.Exists(path))
        {
            throw new DirectoryNotFoundException($"--keys {path}: no such key file or directory of <client-id>.key files");
        }

        var keys = new Dictionary<string, PreSharedKey>(StringComparer.Ordinal);
        foreach (string file in Directory.EnumerateFiles(path, "*.key"))
        {
            keys[Path.GetFileNameWithoutExtension(file)] = PreSharedKey.Load(file, warn);
        }

        if (keys.Count == 0)
        {
            throw new InvalidDataException($"--keys {Path.GetFullPath(path)} holds no <client-id>.key file; an authenticating server with no keys would refuse every edge");
        }

        return new EdgeKeyStore(keys, null);
    }

    /// <summary>
    /// The key of <paramref name="clientId"/>, or for an id without one a decoy: HMAC-SHA256 of the id
    /// under a per-process secret. The handshake runs the same exchange with either, so an unknown id
    /// is refused exactly like a known one with a wrong proof (docs/protocol.md §4.7). The decoy is
    /// derived for every id, known or not, so the lookup costs the same.
    /// </summary>
    public PreSharedKey KeyOrDecoy(string clientId, out bool known)
    {
        ArgumentNullException.ThrowIfNull(clientId);
        var decoy = new PreSharedKey(HMACSHA256.HashData(_decoySecret, Encoding.UTF8.GetBytes(clientId)));
        known = TryGet(clientId, out PreSharedKey key);
        return known ? key : decoy;
    }

    public bool TryGet(string clientId, out PreSharedKey key)
    {
        if (_byClient.TryGetValue(clientId, out PreSharedKey? found) || (found = _shared) is not null)
        {
            key = found;
            return true;
        }

        key = null!;
        return false;
    }
}
