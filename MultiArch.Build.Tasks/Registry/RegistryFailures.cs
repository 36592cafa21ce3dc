using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;

namespace MultiArch.Build.Tasks.Registry;

/// <summary>
/// What a failure is, decided once, by the failure itself: whether trying again may help (a 5xx, 408, 429, a dropped
/// connection, a timeout; never a TLS failure or a source that broke off), whether nothing listens, whether a failed
/// write may have been applied all the same.
/// </summary>
internal static class RegistryFailures
{
    /// <summary>408, 429 and 5xx: the registry may answer otherwise next time.</summary>
    public static bool IsTransient(HttpStatusCode status) =>
        status is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests || (int)status >= 500;

    /// <summary>A failure of the transport (the connection, the bytes, the clock), as opposed to an answer or a bug.</summary>
    public static bool IsTransport(Exception ex) => ex is HttpRequestException or IOException or TimeoutException;

    /// <summary>A transport failure worth another try: a reset, a cut, a timeout; not a TLS failure nor a broken source.</summary>
    public static bool IsTransient(Exception ex) =>
        IsTransport(ex) && !IsTlsFailure(ex) && FindInner<SourceBodyException>(ex) is null;

    public static bool IsTlsFailure(Exception ex)
    {
        for (var current = ex; current is not null; current = current.InnerException)
        {
            if (current is AuthenticationException || (current is HttpRequestException http && http.HttpRequestError == HttpRequestError.SecureConnectionError))
            {
                return true;
            }
        }

        return false;
    }

    public static bool IsConnectionRefused(Exception ex) =>
        FindInner<SocketException>(ex) is { SocketErrorCode: SocketError.ConnectionRefused };

    /// <summary>
    /// A failed PUT that the registry may have applied all the same: the connection failed or timed out after the request
    /// went out (1001, 1008, 1015), the last of several tries got a 5xx, 408 or 429 (an earlier one may have been applied
    /// and its answer lost), or the digest header does not match (2005). Refusals (4xx) and failures before sending
    /// (credentials, tokens) are believed at once.
    /// </summary>
    public static bool MayHaveBeenApplied(MultiArchException ex) => ex switch
    {
        RegistryException { StatusCode: { } status } => IsTransient(status),
        _ => s_afterSending.Contains(ex.Code),
    };

    /// <summary>The codes of failures that can come after a request went out: the connection lost, a timeout, the tries used up, other bytes.</summary>
    private static readonly HashSet<string> s_afterSending =
    [
        .. new[] { MessageId.RegistryUnreachable, MessageId.RequestTimedOut, MessageId.TooManyRetries, MessageId.DigestMismatch }.Select(id => Messages.Format(id).Code),
    ];

    public static T? FindInner<T>(Exception ex)
        where T : Exception
    {
        for (var current = ex; current is not null; current = current.InnerException)
        {
            if (current is T match)
            {
                return match;
            }
        }

        return null;
    }
}
