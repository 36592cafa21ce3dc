using System.Net;
using System.Net.Sockets;

namespace MultiArch.Build.Tasks.Registry;

/// <summary>Whether a host is on this machine or a private network: the line a public registry's token service may not cross.</summary>
internal static class NetworkAddresses
{
    private static readonly TimeSpan s_lookupLimit = TimeSpan.FromSeconds(2);

    /// <summary>
    /// True for <c>localhost</c>, loopback, private (RFC 1918, unique local), shared (100.64/10) and link-local addresses,
    /// and for a name that resolves to one of them. A name that does not resolve (within two seconds) is not private.
    /// </summary>
    public static async Task<bool> IsPrivateAsync(string host, CancellationToken cancellationToken)
    {
        if (host.Equals("localhost", StringComparison.OrdinalIgnoreCase) || host.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        if (IPAddress.TryParse(host.Trim('[', ']'), out var literal))
        {
            return IsPrivate(literal);
        }

        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(s_lookupLimit);
        try
        {
            var addresses = await Dns.GetHostAddressesAsync(host, limit.Token);
            return addresses.Any(IsPrivate);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or ArgumentException && !cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    public static bool IsPrivate(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (IPAddress.IsLoopback(address) || address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any))
        {
            return true;
        }

        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            return address.IsIPv6LinkLocal || address.IsIPv6SiteLocal || address.IsIPv6UniqueLocal;
        }

        var b = address.GetAddressBytes();
        return b[0] == 10 || b[0] == 0
            || (b[0] == 172 && b[1] >= 16 && b[1] <= 31)
            || (b[0] == 192 && b[1] == 168)
            || (b[0] == 169 && b[1] == 254)
            || (b[0] == 100 && b[1] >= 64 && b[1] <= 127);
    }
}
