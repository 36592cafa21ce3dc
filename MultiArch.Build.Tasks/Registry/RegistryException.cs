using System.Net;

namespace MultiArch.Build.Tasks.Registry;

/// <summary>
/// A failed registry request: the method, the URL without its query (upload URLs carry state tokens), the status,
/// the distribution error codes (<c>MANIFEST_UNKNOWN</c> …) and whether trying again may help.
/// </summary>
internal sealed class RegistryException : MultiArchException
{
    public RegistryException(string code, string message, string method, string url, HttpStatusCode? status, IReadOnlyList<string> errorCodes, Exception? inner = null)
        : base(code, message, inner)
    {
        Method = method;
        Url = url;
        StatusCode = status;
        ErrorCodes = errorCodes;
    }

    public string Method { get; }

    public string Url { get; }

    public HttpStatusCode? StatusCode { get; }

    public IReadOnlyList<string> ErrorCodes { get; }

    /// <summary>The registry's own words: the first error's <c>message</c>, for the self-test's report.</summary>
    public string? RegistryMessage { get; internal set; }

    /// <summary>The source was not there (404): the only failure <c>ContainerManifestIgnoreMissing</c> skips.</summary>
    public bool IsNotFound => StatusCode == HttpStatusCode.NotFound;

    public static RegistryException From(string messageId, string method, Uri url, HttpStatusCode? status, IReadOnlyList<string> errorCodes, params object?[] args)
    {
        var (code, text) = Messages.Format(messageId, args);
        return new RegistryException(code, text, method, Redact(url), status, errorCodes);
    }

    /// <summary>The URL without query and fragment: upload locations carry opaque state, tokens may ride in queries.</summary>
    public static string Redact(Uri url) => url.GetLeftPart(UriPartial.Path);
}
