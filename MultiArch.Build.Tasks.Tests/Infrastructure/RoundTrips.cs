using System.Globalization;

namespace MultiArch.Build.Tasks.Tests.Infrastructure;

/// <summary>
/// Sequential depth: what a client's latency costs. Against a registry that answers every request after the same
/// round-trip time, an operation takes (depth × that time), however many requests run side by side.
/// </summary>
/// <remarks>
/// <para>
/// The depth of a request log is the length of the longest chain of requests in which each one started after the one
/// before it ended (as the proxy saw them: from the arrival of the request to the end of its response). Requests that
/// overlap are side by side; a request that starts only after another ended may depend on it, and is counted as
/// waiting for it.
/// </para>
/// <para>
/// Computed over the requests in arrival order: depth(r) = 1 + the largest depth(q) of a request q that ended before r
/// started (0 when none did); the log's depth is the largest depth(r). eng/latency-proxy.py computes the same number.
/// </para>
/// <para>
/// The measure only means something when every request takes clearly longer than the client's own work between two
/// requests: give the proxy a delay rule (<see cref="FaultAction.Delay"/>) for every request, e.g. 75 ms.
/// </para>
/// </remarks>
internal static class RoundTrips
{
    /// <summary>The sequential depth of <paramref name="exchanges"/> (0 for none).</summary>
    public static int SequentialDepth(IEnumerable<ProxyExchange> exchanges) => LongestChain(exchanges).Count;

    /// <summary>One longest chain, first request first: the requests that made the depth.</summary>
    public static IReadOnlyList<ProxyExchange> LongestChain(IEnumerable<ProxyExchange> exchanges)
    {
        var ordered = exchanges.OrderBy(e => e.Started).ToList();
        var depth = new int[ordered.Count];
        var previous = new int[ordered.Count];
        var best = -1;
        for (var i = 0; i < ordered.Count; i++)
        {
            depth[i] = 1;
            previous[i] = -1;
            for (var j = 0; j < i; j++)
            {
                if (ordered[j].Ended <= ordered[i].Started && depth[j] + 1 > depth[i])
                {
                    depth[i] = depth[j] + 1;
                    previous[i] = j;
                }
            }

            if (best < 0 || depth[i] > depth[best])
            {
                best = i;
            }
        }

        var chain = new List<ProxyExchange>();
        for (var at = best; at >= 0; at = previous[at])
        {
            chain.Add(ordered[at]);
        }

        chain.Reverse();
        return chain;
    }

    /// <summary>The longest chain as lines, <c>+120 ms  GET /v2/a/manifests/1 -> 200</c>, for failure messages.</summary>
    public static string Describe(IEnumerable<ProxyExchange> exchanges)
    {
        var list = exchanges.ToList();
        var origin = list.Count == 0 ? TimeSpan.Zero : list.Min(e => e.Started);
        return string.Join('\n', LongestChain(list).Select(e =>
            $"+{(e.Started - origin).TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture),5} ms .. +{(e.Ended - origin).TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture),5} ms  {e}"));
    }
}
