using System.Net;

namespace MultiArch.Build.Tasks.Registry;

/// <summary>
/// Follows 301, 302, 303, 307 and 308 for the GETs and HEADs that ask for it (manifests and blobs: a mirror, a storage
/// service), up to <see cref="MaxRedirects"/> hops (<c>MULTIARCH1024</c>), never from HTTPS to plain HTTP
/// (<c>MULTIARCH1020</c>). Each hop goes through the rest of the pipeline as a request of its own, so it is retried like
/// any read and authenticated by <see cref="AuthHandler"/>: the registry's credentials only at its own origin.
/// </summary>
internal sealed class RedirectHandler(IRegistrySender inner, Func<RegistryRequest, Uri> uriOf) : IRegistrySender
{
    /// <summary>The longest redirect chain followed (browsers allow 20; registries use one or two).</summary>
    public const int MaxRedirects = 10;

    public static bool IsRedirect(HttpStatusCode status) =>
        status is HttpStatusCode.MovedPermanently or HttpStatusCode.Found or HttpStatusCode.SeeOther or HttpStatusCode.TemporaryRedirect or HttpStatusCode.PermanentRedirect;

    public async Task<HttpResponseMessage> SendAsync(RegistryRequest request, CancellationToken cancellationToken)
    {
        var response = await inner.SendAsync(request, cancellationToken);
        if (!request.FollowRedirects)
        {
            return response;
        }

        var from = response.RequestMessage?.RequestUri ?? uriOf(request);
        for (var hop = 1; IsRedirect(response.StatusCode) && response.Headers.Location is { } location; hop++)
        {
            var next = location.IsAbsoluteUri ? location : new Uri(from, location);
            response.Dispose();
            if (hop > MaxRedirects)
            {
                throw MultiArchException.Create(MessageId.TooManyRedirects, request.Method, RegistryException.Redact(uriOf(request)), MaxRedirects, RegistryException.Redact(next));
            }

            if (from.Scheme == Uri.UriSchemeHttps && next.Scheme != Uri.UriSchemeHttps)
            {
                throw MultiArchException.Create(MessageId.InsecureLocation, request.Registry, request.Method, RegistryException.Redact(next), next.Authority);
            }

            var hopRequest = request with { PathAndQuery = next.AbsoluteUri, AbsoluteLocation = true, IsRedirectHop = true, FollowRedirects = false };
            response = await inner.SendAsync(hopRequest, cancellationToken);
            from = next;
        }

        return response;
    }
}
