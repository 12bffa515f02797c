//! Tests of the assembler: table cases for the known failure modes of stream engines,
//! a first-wins byte-map model, and properties over random segmentations.

mod model;
mod props;
mod support;
mod table;
