using MultiArch.Build.Tasks.Oci;

namespace MultiArch.Build.Tasks.Inspection;

/// <summary>The platform entries of an inspected reference, and the required-platforms check (task and command line).</summary>
internal static class InspectedPlatforms
{
    /// <summary>One descriptor per platform entry (attestations excluded); a single image gets its config's platform.</summary>
    public static IEnumerable<Descriptor> Entries(InspectResult result) => result.Root switch
    {
        ImageIndex index => index.Manifests.Where(d => !d.IsAttestation),
        _ => [result.Root.ToDescriptor() with { Platform = result.RootConfig?.Platform }],
    };

    /// <summary>Throws <c>MissingRequiredPlatforms</c> unless every required platform is satisfied by an entry.</summary>
    public static void CheckRequired(string image, IReadOnlyList<Platform> required, InspectResult result)
    {
        var present = Entries(result).Select(e => e.Platform).OfType<Platform>().ToList();
        var missing = required.Where(r => !present.Any(r.IsSatisfiedBy)).ToList();
        if (missing.Count > 0)
        {
            throw MultiArchException.Create(MessageId.MissingRequiredPlatforms, image, string.Join(", ", missing), present.Count == 0 ? "none" : string.Join(", ", present));
        }
    }
}
