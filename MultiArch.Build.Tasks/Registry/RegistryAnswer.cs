using System.Globalization;
using System.Net;

namespace MultiArch.Build.Tasks.Registry;

/// <summary>
/// What a registry answered to one request, kept as data rather than thrown: the method, the path (without its query:
/// upload locations carry state), the status, the distribution error codes and the first error message (or the first
/// line of a non-JSON body). The registry self-test reports these verbatim.
/// </summary>
internal sealed record RegistryAnswer(string Method, string Path, int Status, IReadOnlyList<string> ErrorCodes, string? Message)
{
    public bool IsSuccess => Status is >= 200 and < 300;

    /// <summary><c>404 NAME_UNKNOWN (repository name not known to registry)</c>, or <c>405</c> with no body.</summary>
    public string Summary
    {
        get
        {
            var text = Status.ToString(CultureInfo.InvariantCulture);
            if (ErrorCodes.Count > 0)
            {
                text += " " + string.Join(", ", ErrorCodes);
            }

            return string.IsNullOrWhiteSpace(Message) ? text : $"{text} ({Message})";
        }
    }

    /// <summary><c>PUT /v2/repo/manifests/tag -> 400 MANIFEST_INVALID (manifest invalid)</c>.</summary>
    public override string ToString() => $"{Method} {Path} -> {Summary}";

    /// <summary>The answer a <see cref="RegistryException"/> carries (its message when the body said nothing).</summary>
    public static RegistryAnswer From(RegistryException exception)
    {
        var path = Uri.TryCreate(exception.Url, UriKind.Absolute, out var url) ? url.AbsolutePath : exception.Url;
        return new RegistryAnswer(exception.Method, path, (int)(exception.StatusCode ?? 0), exception.ErrorCodes, exception.RegistryMessage ?? (exception.ErrorCodes.Count > 0 ? null : exception.Message));
    }
}

/// <summary>A manifest exactly as a registry served it (empty <see cref="Bytes"/> unless <see cref="Answer"/> is 200).</summary>
internal sealed record ServedManifest(RegistryAnswer Answer, byte[] Bytes, string? ContentType, Oci.Digest? DigestHeader);
