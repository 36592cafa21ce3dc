namespace MultiArch.Build.Tasks.Registry;

/// <summary>
/// The scheme a registry is spoken to with: HTTPS unless the build learned otherwise; an insecure registry that does not
/// complete a TLS handshake is spoken to in plain HTTP from then on. A location on plain HTTP (an upload session, a
/// redirect) is used only when its host may be spoken to insecurely: an HTTPS registry never sends the client, its data or
/// its credentials over plain HTTP (<c>MULTIARCH1020</c>). Loopback registries are guessed by <see cref="LoopbackSchemeHandler"/>.
/// </summary>
internal sealed class SchemeHandler(RegistrySettings settings, IRegistrySender inner) : IRegistrySender
{
    public async Task<HttpResponseMessage> SendAsync(RegistryRequest request, CancellationToken cancellationToken)
    {
        while (true)
        {
            var scheme = settings.State.GetScheme(request.Registry) ?? Uri.UriSchemeHttps;
            var uri = request.UriFor(scheme);
            CheckPlainHttp(settings, request, uri);
            try
            {
                return await inner.SendAsync(request, cancellationToken);
            }
            catch (HttpRequestException ex) when (RegistryFailures.IsTlsFailure(ex) && scheme == Uri.UriSchemeHttps && !request.AbsoluteLocation && settings.IsInsecure(request.Registry))
            {
                settings.Log.Message(LogLevel.Low, $"MultiArch: '{request.Registry}' did not complete a TLS handshake; it is listed as insecure, so using plain HTTP.");
                settings.State.SetScheme(request.Registry, Uri.UriSchemeHttp);
            }
        }
    }

    public static void CheckPlainHttp(RegistrySettings settings, RegistryRequest request, Uri uri)
    {
        if (uri.Scheme != Uri.UriSchemeHttps && !settings.IsInsecure(request.Registry) && !settings.IsInsecureHost(uri.Host))
        {
            throw MultiArchException.Create(MessageId.InsecureLocation, request.Registry, request.Method, RegistryException.Redact(uri), uri.Authority);
        }
    }

    /// <summary>
    /// The registry's own origin: the scheme it is spoken to with, its host, and its port (the scheme's default when the
    /// registry names none). Another port, another scheme or another host is another origin, which never gets credentials.
    /// </summary>
    public static bool IsSameOrigin(Uri uri, string registry, string scheme)
    {
        if (!Uri.TryCreate(scheme + "://" + RegistryRequest.ApiAuthority(registry) + "/", UriKind.Absolute, out var origin))
        {
            return false;
        }

        return string.Equals(uri.Scheme, origin.Scheme, StringComparison.OrdinalIgnoreCase)
            && string.Equals(uri.IdnHost, origin.IdnHost, StringComparison.OrdinalIgnoreCase)
            && uri.Port == origin.Port;
    }
}
