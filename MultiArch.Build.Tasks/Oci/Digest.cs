using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;

namespace MultiArch.Build.Tasks.Oci;

/// <summary>A content digest, <c>sha256:&lt;64 hex&gt;</c> or <c>sha512:&lt;128 hex&gt;</c>, always lower-case.</summary>
internal readonly record struct Digest
{
    private Digest(string algorithm, string hex)
    {
        Algorithm = algorithm;
        Hex = hex;
    }

    public string Algorithm { get; }

    public string Hex { get; }

    public bool IsEmpty => Algorithm is null;

    public override string ToString() => IsEmpty ? string.Empty : Algorithm + ":" + Hex;

    /// <summary>The sha256 digest of exactly these bytes.</summary>
    public static Digest FromContent(ReadOnlySpan<byte> content) =>
        new("sha256", Convert.ToHexString(SHA256.HashData(content)).ToLowerInvariant());

    /// <summary>True when <paramref name="content"/> hashes to this digest with this digest's algorithm.</summary>
    public bool Matches(ReadOnlySpan<byte> content)
    {
        var actual = Algorithm switch
        {
            "sha256" => SHA256.HashData(content),
            "sha512" => SHA512.HashData(content),
            _ => null,
        };
        return actual is not null && string.Equals(Convert.ToHexString(actual), Hex, StringComparison.OrdinalIgnoreCase);
    }

    public static Digest Parse(string value) =>
        TryParse(value, out var digest, out var reason)
            ? digest
            : throw MultiArchException.Create(MessageId.InvalidDigest, value, reason);

    public static bool TryParse(string? value, out Digest digest) => TryParse(value, out digest, out _);

    public static bool TryParse(string? value, out Digest digest, [NotNullWhen(false)] out string? reason)
    {
        digest = default;
        if (string.IsNullOrEmpty(value))
        {
            reason = "it is empty";
            return false;
        }

        var colon = value.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0)
        {
            reason = "it has no 'algorithm:' prefix";
            return false;
        }

        var algorithm = value[..colon];
        var hex = value[(colon + 1)..];
        var expected = algorithm switch
        {
            "sha256" => 64,
            "sha512" => 128,
            _ => -1,
        };
        if (expected < 0)
        {
            reason = $"the algorithm '{algorithm}' is not supported (use sha256 or sha512)";
            return false;
        }

        if (hex.Length != expected || !hex.All(c => c is (>= '0' and <= '9') or (>= 'a' and <= 'f')))
        {
            reason = $"a {algorithm} digest needs exactly {expected} lower-case hex digits";
            return false;
        }

        digest = new Digest(algorithm, hex);
        reason = null;
        return true;
    }
}
