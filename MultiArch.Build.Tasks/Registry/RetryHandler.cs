using System.Net;

namespace MultiArch.Build.Tasks.Registry;

/// <summary>
/// Tries a request again when the failure says trying again may help (<see cref="RegistryFailures"/>): idempotent
/// requests only, up to <see cref="RegistrySettings.MaxRetries"/> times, with exponential backoff and jitter, honouring
/// <c>Retry-After</c> up to a limit. A connection refused where nothing ever answered fails at once (<c>MULTIARCH1023</c>);
/// a transport failure that ends the tries becomes the coded error that names it.
/// </summary>
internal sealed class RetryHandler(RegistrySettings settings, IRegistrySender inner, Func<RegistryRequest, Uri> uriOf) : IRegistrySender
{
    public async Task<HttpResponseMessage> SendAsync(RegistryRequest request, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            HttpResponseMessage response;
            try
            {
                response = await inner.SendAsync(request, cancellationToken);
            }
            catch (Exception ex) when (RegistryFailures.IsTransport(ex) && !cancellationToken.IsCancellationRequested)
            {
                if (RegistryFailures.FindInner<SourceBodyException>(ex) is { } source)
                {
                    // The body streamed from another registry broke off: that registry failed, not this one.
                    throw source.Error;
                }

                var uri = uriOf(request);
                if (RegistryFailures.IsConnectionRefused(ex) && !settings.State.HasAnswered(uri.Authority))
                {
                    // Nothing ever answered there: no retry will change that (a registry that answered before and now
                    // refuses is restarting, and is retried).
                    throw MultiArchException.Create(ex, MessageId.NothingListening, $"{uri.Host}:{uri.Port}", request.Registry);
                }

                if (request.IsRetryable && RegistryFailures.IsTransient(ex) && attempt < settings.MaxRetries)
                {
                    await RetryPolicy.DelayAsync(settings, request.Registry, request.Method, request.PathOnly, attempt + 1, null, ex.Message, cancellationToken);
                    continue;
                }

                throw RegistryErrors.Transport(request, uri, ex, attempt + 1);
            }

            if (RegistryFailures.IsTransient(response.StatusCode) && request.IsRetryable && attempt < settings.MaxRetries)
            {
                var retryAfter = RetryPolicy.RetryAfter(response);
                var status = (int)response.StatusCode;
                response.Dispose();
                await RetryPolicy.DelayAsync(settings, request.Registry, request.Method, request.PathOnly, attempt + 1, retryAfter, $"HTTP {status}", cancellationToken);
                continue;
            }

            response.RequestMessage?.Options.Set(RegistryWire.Attempts, attempt + 1);
            return response;
        }
    }
}

/// <summary>How long to wait before trying again, and the retries of whole reads whose body broke off.</summary>
internal static class RetryPolicy
{
    /// <summary>The longest wait between two tries, in seconds, whatever the attempt number.</summary>
    private const double MaxBackoffSeconds = 30;

    public static TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        var header = response.Headers.RetryAfter;
        if (header?.Delta is { } delta)
        {
            return delta;
        }

        if (header?.Date is { } date)
        {
            var wait = date - DateTimeOffset.UtcNow;
            return wait < TimeSpan.Zero ? TimeSpan.Zero : wait;
        }

        return null;
    }

    public static async Task DelayAsync(RegistrySettings settings, string registry, HttpMethod method, string path, int attempt, TimeSpan? retryAfter, string reason, CancellationToken cancellationToken)
    {
        if (retryAfter is { } asked && asked > settings.MaxRetryAfter)
        {
            throw MultiArchException.Create(MessageId.RetryAfterTooLong, registry, Math.Ceiling(asked.TotalSeconds), method, path, settings.MaxRetryAfter.TotalSeconds);
        }

        // Exponential, with jitter (0.5 to 1.5 times the step) so that concurrent requests do not retry in lock step.
        var step = Math.Min(settings.RetryBaseDelay.TotalMilliseconds * Math.Pow(2, attempt - 1), MaxBackoffSeconds * 1000);
        var backoff = TimeSpan.FromMilliseconds(step * (0.5 + Random.Shared.NextDouble()));
        var delay = retryAfter is { } wanted && wanted > backoff ? wanted : backoff;
        settings.Log.Message(LogLevel.Low, $"MultiArch: {method} {path} on '{registry}' failed ({reason}); retry {attempt} of {settings.MaxRetries} in {delay.TotalMilliseconds:0} ms{(retryAfter is null ? string.Empty : " (Retry-After)")}.");
        await Task.Delay(delay, cancellationToken);
    }

    /// <summary>
    /// Runs a read (a request and its body) again when the body breaks off or stalls after the headers came: the send
    /// pipeline's retries end with the headers, so the read as a whole is tried again, up to
    /// <see cref="RegistrySettings.MaxRetries"/> times, then <c>MULTIARCH1015</c>. Only for requests without side effects.
    /// </summary>
    public static async Task<T> RetryBrokenBodyAsync<T>(RegistrySettings settings, RegistryRequest request, Uri uri, Func<Task<T>> read, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await read();
            }
            catch (Exception ex) when (RegistryFailures.IsTransport(ex) && !cancellationToken.IsCancellationRequested)
            {
                var reason = (ex is TimeoutException ? "the response body stalled: " : "the response body broke off: ") + ex.Message;
                if (attempt >= settings.MaxRetries)
                {
                    throw MultiArchException.Create(ex, MessageId.TooManyRetries, request.Method, RegistryException.Redact(uri), attempt + 1, reason);
                }

                await DelayAsync(settings, request.Registry, request.Method, request.PathOnly, attempt + 1, null, reason, cancellationToken);
            }
        }
    }
}
