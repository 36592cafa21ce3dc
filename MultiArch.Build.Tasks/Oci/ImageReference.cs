using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace MultiArch.Build.Tasks.Oci;

/// <summary>
/// A parsed image reference, <c>[registry[:port]/]repository[:tag][@digest]</c>, following the distribution
/// reference grammar and Docker's normalisation (<c>ubuntu</c> → <c>docker.io/library/ubuntu</c>).
/// Invalid input is rejected before any network call.
/// </summary>
internal sealed record ImageReference
{
    public const string DockerHub = "docker.io";
    private const int MaxNameLength = 255;

    private ImageReference(string registry, string repository, string? tag, Digest? digest, string original)
    {
        Registry = registry;
        Repository = repository;
        Tag = tag;
        Digest = digest;
        Original = original;
    }

    /// <summary>The registry host, with its port when one was given (<c>127.0.0.1:5000</c>, <c>docker.io</c>).</summary>
    public string Registry { get; }

    /// <summary>The repository path within the registry (<c>library/ubuntu</c>).</summary>
    public string Repository { get; }

    public string? Tag { get; }

    public Digest? Digest { get; }

    /// <summary>The text the user wrote, for messages.</summary>
    public string Original { get; }

    /// <summary>The tag or digest to request: the digest when both are given.</summary>
    public string ReferenceForApi => Digest?.ToString() ?? Tag ?? "latest";

    public ImageReference WithTag(string tag) => new(Registry, Repository, ValidateTag(tag), null, $"{Registry}/{Repository}:{tag}");

    public ImageReference WithDigest(Digest digest) => new(Registry, Repository, null, digest, $"{Registry}/{Repository}@{digest}");

    /// <summary><c>registry/repository</c>.</summary>
    public string Name => $"{Registry}/{Repository}";

    public override string ToString()
    {
        var builder = new StringBuilder(Name);
        if (Tag is not null)
        {
            builder.Append(':').Append(Tag);
        }

        if (Digest is not null)
        {
            builder.Append('@').Append(Digest.Value.ToString());
        }

        return builder.ToString();
    }

    public bool Equals(ImageReference? other) =>
        other is not null && Registry == other.Registry && Repository == other.Repository && Tag == other.Tag && Digest == other.Digest;

    public override int GetHashCode() => HashCode.Combine(Registry, Repository, Tag, Digest);

    public static ImageReference Parse(string? value) =>
        TryParse(value, out var reference, out var reason)
            ? reference
            : throw MultiArchException.Create(MessageId.InvalidReference, value ?? string.Empty, reason);

    public static bool TryParse(string? value, [NotNullWhen(true)] out ImageReference? reference) => TryParse(value, out reference, out _);

    public static bool TryParse(string? value, [NotNullWhen(true)] out ImageReference? reference, [NotNullWhen(false)] out string? reason)
    {
        reference = null;
        if (string.IsNullOrWhiteSpace(value))
        {
            reason = "it is empty";
            return false;
        }

        if (value.Length > 4096)
        {
            reason = "it is longer than 4096 characters";
            return false;
        }

        var rest = value;
        Digest? digest = null;
        var at = rest.IndexOf('@', StringComparison.Ordinal);
        if (at >= 0)
        {
            if (!Oci.Digest.TryParse(rest[(at + 1)..], out var parsed, out var digestReason))
            {
                reason = "its digest is invalid: " + digestReason;
                return false;
            }

            digest = parsed;
            rest = rest[..at];
        }

        string? tag = null;
        var lastSlash = rest.LastIndexOf('/');
        var tagColon = rest.LastIndexOf(':');
        if (tagColon > lastSlash)
        {
            tag = rest[(tagColon + 1)..];
            rest = rest[..tagColon];
            if (!IsValidTag(tag))
            {
                reason = $"the tag '{tag}' is invalid (a tag is 1 to 128 characters of letters, digits, '_', '.' and '-', not starting with '.' or '-')";
                return false;
            }
        }

        string registry;
        string repository;
        var firstSlash = rest.IndexOf('/');
        var first = firstSlash < 0 ? string.Empty : rest[..firstSlash];
        if (firstSlash > 0 && (first.Contains('.', StringComparison.Ordinal) || first.Contains(':', StringComparison.Ordinal) || first == "localhost" || first.Any(char.IsUpper)))
        {
            registry = first;
            repository = rest[(firstSlash + 1)..];
            if (!IsValidHost(registry, out reason))
            {
                return false;
            }
        }
        else
        {
            registry = DockerHub;
            repository = rest;
        }

        if (registry == "index.docker.io")
        {
            registry = DockerHub;
        }

        if (registry == DockerHub && !repository.Contains('/', StringComparison.Ordinal))
        {
            repository = "library/" + repository;
        }

        if (!IsValidRepository(repository, out reason))
        {
            return false;
        }

        if (registry.Length + 1 + repository.Length > MaxNameLength)
        {
            reason = $"the name is longer than {MaxNameLength} characters";
            return false;
        }

        reference = new ImageReference(registry, repository, tag, digest, value);
        reason = null;
        return true;
    }

    public static bool IsValidTag(string? tag)
    {
        if (string.IsNullOrEmpty(tag) || tag.Length > 128)
        {
            return false;
        }

        if (!IsWordChar(tag[0]))
        {
            return false;
        }

        foreach (var c in tag)
        {
            if (!IsWordChar(c) && c != '.' && c != '-')
            {
                return false;
            }
        }

        return true;

        static bool IsWordChar(char c) => c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '_';
    }

    private static string ValidateTag(string tag) =>
        IsValidTag(tag) ? tag : throw MultiArchException.Create(MessageId.InvalidTag, tag);

    private static bool IsValidHost(string host, [NotNullWhen(false)] out string? reason)
    {
        reason = null;
        var name = host;
        if (host.StartsWith('['))
        {
            var close = host.IndexOf(']', StringComparison.Ordinal);
            if (close < 0 || !System.Net.IPAddress.TryParse(host[1..close], out var ip) || ip.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
            {
                reason = $"the registry host '{host}' is not a valid bracketed IPv6 address";
                return false;
            }

            var after = host[(close + 1)..];
            if (after.Length > 0 && (after[0] != ':' || !IsPort(after[1..])))
            {
                reason = $"the registry '{host}' has an invalid port";
                return false;
            }

            return true;
        }

        var portColon = host.IndexOf(':', StringComparison.Ordinal);
        if (portColon >= 0)
        {
            if (!IsPort(host[(portColon + 1)..]))
            {
                reason = $"the registry '{host}' has an invalid port";
                return false;
            }

            name = host[..portColon];
        }

        foreach (var component in name.Split('.'))
        {
            if (component.Length == 0 || component.Length > 63 || component[0] == '-' || component[^1] == '-' ||
                !component.All(c => c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '-'))
            {
                reason = $"the registry host '{name}' is not a valid host name";
                return false;
            }
        }

        return true;

        static bool IsPort(string port) =>
            port.Length is > 0 and <= 5 && port.All(char.IsAsciiDigit) && int.Parse(port, System.Globalization.CultureInfo.InvariantCulture) is > 0 and <= 65535;
    }

    private static bool IsValidRepository(string repository, [NotNullWhen(false)] out string? reason)
    {
        if (repository.Length == 0)
        {
            reason = "the repository name is empty";
            return false;
        }

        foreach (var component in repository.Split('/'))
        {
            if (!IsValidPathComponent(component))
            {
                reason = component.Any(char.IsUpper)
                    ? $"the repository name '{repository}' must be lower-case"
                    : $"the repository path component '{component}' is invalid (use lower-case letters and digits separated by '.', '_', '__' or '-')";
                return false;
            }
        }

        reason = null;
        return true;
    }

    // path-component := alpha-numeric (separator alpha-numeric)*; separator := [_.] | __ | [-]+
    private static bool IsValidPathComponent(string component)
    {
        if (component.Length == 0 || !IsAlnum(component[0]) || !IsAlnum(component[^1]))
        {
            return false;
        }

        var i = 0;
        while (i < component.Length)
        {
            if (IsAlnum(component[i]))
            {
                i++;
                continue;
            }

            var start = i;
            while (i < component.Length && !IsAlnum(component[i]))
            {
                i++;
            }

            var separator = component[start..i];
            var ok = separator is "." or "_" or "__" || separator.All(c => c == '-');
            if (!ok)
            {
                return false;
            }
        }

        return true;

        static bool IsAlnum(char c) => c is (>= 'a' and <= 'z') or (>= '0' and <= '9');
    }
}
