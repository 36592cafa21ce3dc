namespace MultiArch.Build.Tasks.Specs;

/// <summary>
/// A node of a loaded spec document: just enough of YAML's representation model to bind a spec and cite locations.
/// Built only by <see cref="SpecYamlLoader"/>; an alias is the very node its anchor names, so the tree may share nodes.
/// </summary>
internal abstract class SpecNode
{
    private protected SpecNode(SpecLocation location, int weight)
    {
        Location = location;
        Weight = weight;
    }

    /// <summary>Where the node starts (its tag or anchor, if any, else its content).</summary>
    public SpecLocation Location { get; }

    /// <summary>How many nodes this one stands for once every alias in it is expanded (1 for a scalar).</summary>
    public int Weight { get; }

    /// <summary>The node for messages: "a mapping", "a sequence", "the value '5'" or "null".</summary>
    public abstract string Describe();
}

/// <summary>A scalar. Its text is kept as written (<c>1.0</c> stays "1.0"); YAML's null (<c>~</c>, <c>null</c>, nothing) is <see cref="IsNull"/>.</summary>
internal sealed class SpecScalar : SpecNode
{
    public SpecScalar(SpecLocation location, string value, bool isNull)
        : base(location, 1)
    {
        Value = value;
        IsNull = isNull;
    }

    public string Value { get; }

    public bool IsNull { get; }

    public override string Describe() => IsNull ? "null" : $"the value '{SpecErrors.Display(Value)}'";
}

internal sealed class SpecSequence : SpecNode
{
    public SpecSequence(SpecLocation location, IReadOnlyList<SpecNode> items, int weight)
        : base(location, weight)
    {
        Items = items;
    }

    public IReadOnlyList<SpecNode> Items { get; }

    public override string Describe() => "a sequence";
}

internal sealed class SpecMapping : SpecNode
{
    public SpecMapping(SpecLocation location, IReadOnlyList<KeyValuePair<SpecNode, SpecNode>> entries, int weight)
        : base(location, weight)
    {
        Entries = entries;
    }

    /// <summary>The key/value pairs in document order, duplicates included (the binder reports them).</summary>
    public IReadOnlyList<KeyValuePair<SpecNode, SpecNode>> Entries { get; }

    public override string Describe() => "a mapping";
}
